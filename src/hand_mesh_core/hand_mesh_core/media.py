"""Reading images, image folders, videos and V4L2 cameras as RGB frames (OpenCV).

Used by the CLI (``hand-mesh predict``, ``pseudo-label``), the benchmarks and the ROS
``image_source`` node, so every entry point reads media the same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".gif")

#: Frame rate assumed for image folders and for videos/cameras that report none (Hz).
DEFAULT_FPS = 10.0


@dataclasses.dataclass(frozen=True)
class Frame:
    """One RGB frame of a source.

    Attributes:
        index: 0-based frame number within the source (restarts at 0 on each loop).
        time: presentation time of the frame in seconds from the start of the source.
        rgb: ``HxWx3 uint8`` RGB image.
        name: file name for image folders, ``"<stem>_<index:06d>"`` for videos/cameras.
    """

    index: int
    time: float
    rgb: np.ndarray
    name: str


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as ``HxWx3 uint8`` RGB.

    Grayscale, 16-bit and alpha images are converted (16-bit scaled by 1/257, alpha
    dropped). Raises ``FileNotFoundError`` if the file is missing and ``ValueError`` if
    OpenCV cannot decode it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot decode image: {path}")
    return to_rgb8(img, assume_bgr=True)


def to_rgb8(img: np.ndarray, assume_bgr: bool = False) -> np.ndarray:
    """Convert a gray / 3-channel / 4-channel image of uint8 or uint16 to ``HxWx3 uint8``.

    ``assume_bgr`` says the colour channels are in OpenCV's BGR order. Raises
    ``ValueError`` for other dtypes, channel counts or an empty image.
    """
    if img.size == 0:
        raise ValueError(f"empty image of shape {img.shape}")
    if img.dtype == np.uint16:
        img = (img.astype(np.uint32) // 257).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        if not np.isfinite(img).all():
            raise ValueError("image contains NaN or infinite values")
        scale = 255.0 if img.max() <= 1.0 else 1.0
        img = np.clip(img * scale, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {img.dtype} (expected uint8 or uint16)")
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[0], img.shape[1]), cv2.COLOR_GRAY2RGB)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"unsupported image shape {img.shape} (expected HxW, HxWx3 or HxWx4)")
    if img.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB if assume_bgr else cv2.COLOR_RGBA2RGB
        return cv2.cvtColor(img, code)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if assume_bgr else np.ascontiguousarray(img)


def _camera_index(source: str) -> int | None:
    m = re.fullmatch(r"(?:camera:|/dev/video)(\d+)", source)
    return int(m.group(1)) if m else None


def list_images(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` (non-recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class FrameSource:
    """Frames from an image file, an image folder, a video file or a V4L2 camera.

    ``source`` is a path (file or folder) or a camera: ``camera:N`` or ``/dev/videoN``.
    Iterating yields :class:`Frame` objects; ``loop=True`` restarts files and folders at
    the end. Raises ``FileNotFoundError`` for a missing path and ``ValueError`` for a
    source OpenCV cannot open or a folder without images.
    """

    def __init__(self, source: str | Path, loop: bool = False) -> None:
        self.source = str(source)
        self.loop = loop
        self._camera = _camera_index(self.source)
        self._images: list[Path] = []
        self._is_video = False
        if self._camera is None:
            path = Path(self.source)
            if not path.exists():
                raise FileNotFoundError(f"input not found: {path}")
            if path.is_dir():
                self._images = list_images(path)
                if not self._images:
                    raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                self._images = [path]
            else:
                self._is_video = True
        self.fps = self._probe_fps()

    @property
    def is_camera(self) -> bool:
        """True for a live V4L2 camera (no end, no loop)."""
        return self._camera is not None

    def _open_capture(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self._camera if self._camera is not None else self.source)
        if not cap.isOpened():
            raise ValueError(f"cannot open video source {self.source!r}")
        return cap

    def _probe_fps(self) -> float:
        if self._images:
            return DEFAULT_FPS
        cap = self._open_capture()
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        return fps if 0.5 < fps < 1000 else DEFAULT_FPS

    def __len__(self) -> int:
        """Number of frames in one pass (0 when unknown, e.g. a camera)."""
        if self._images:
            return len(self._images)
        if self._camera is not None:
            return 0
        cap = self._open_capture()
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        return max(n, 0)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            if self._images:
                for i, p in enumerate(self._images):
                    yield Frame(i, i / self.fps, load_rgb(p), p.name)
            else:
                yield from self._iter_capture()
            if not self.loop or self.is_camera:
                return

    def _iter_capture(self) -> Iterator[Frame]:
        cap = self._open_capture()
        stem = "camera" if self.is_camera else Path(self.source).stem
        try:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    return
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if not self.is_camera else i / self.fps
                yield Frame(i, t if t > 0 or i == 0 else i / self.fps, to_rgb8(bgr, assume_bgr=True), f"{stem}_{i:06d}")
                i += 1
        finally:
            cap.release()
