"""Hand detection and 21 landmarks with MediaPipe Tasks' ``HandLandmarker`` (stage one).

The two networks come from inside the installed ``mediapipe==0.10.21`` wheel
(``mediapipe/modules/palm_detection/palm_detection_full.tflite`` and
``mediapipe/modules/hand_landmark/hand_landmark_full.tflite``, Apache-2.0). A Tasks
``.task`` bundle is a zip of the two, stored uncompressed, with the members
``hand_detector.tflite`` and ``hand_landmarks_detector.tflite``; it is packed in memory
and handed over as ``model_asset_buffer``, so nothing is downloaded or written.

Handedness: the Tasks API labels the person's hand correctly for ordinary (non-mirrored)
camera images (checked on the FreiHAND subset, all right hands; the legacy
``solutions.hands`` API assumes a mirrored selfie image and swaps the labels).

Duplicates: in VIDEO mode MediaPipe re-detects hands with the palm detector while it still
tracks the previous frame's hand regions, and when the two regions of one hand overlap too
little for its own association to merge them, the hand is reported twice (known upstream:
google-ai-edge/mediapipe#3902, #2928). We measured it on real clips of
``../shared/data/pool`` (one hand with two skeletons, or a partial second skeleton inside
it) and on unrelated photos fed as a stream (stale regions; there the predictors also start
a new stream when the image size changes). :func:`suppress_duplicates` removes them from
every result; see :func:`duplicate_pairs` for the rule and the measurements.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from hand_mesh_core.model_files import ModelFileError, reading

#: Members of the ``.task`` bundle -> model file inside the mediapipe wheel.
_BUNDLE_MEMBERS = {
    "hand_detector.tflite": ("modules", "palm_detection", "palm_detection_full.tflite"),
    "hand_landmarks_detector.tflite": ("modules", "hand_landmark", "hand_landmark_full.tflite"),
}


def _import_mediapipe():
    """Import mediapipe with its C++ INFO/WARNING logging off unless the user set a level."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "the two_stage backend needs mediapipe==0.10.21 (pip install 'hand_mesh_core[two_stage]')"
        ) from exc
    return mediapipe


#: What a ``.tflite`` flatbuffer holds at bytes 4..8 (its file identifier, TensorFlow Lite schema).
TFLITE_IDENTIFIER = b"TFL3"

#: What the bundle's model files are, in the messages of a refused file.
TFLITE_KIND = "MediaPipe hand model (.tflite)"


def bundle_sources(model_root: str | Path | None = None) -> list[Path]:
    """The ``.tflite`` files packed into the bundle, under ``model_root`` (the folder of the
    ``mediapipe`` package; None = the installed wheel's)."""
    root = Path(model_root) if model_root is not None else Path(_import_mediapipe().__file__).parent
    return [root.joinpath(*parts) for parts in _BUNDLE_MEMBERS.values()]


@functools.lru_cache(maxsize=4)
def hand_landmarker_bundle(model_root: str | Path | None = None) -> bytes:
    """The ``.task`` bundle (zip, stored) of the full palm detector and landmark model.

    ``model_root``: the folder of the ``mediapipe`` package (None = the installed wheel's).
    Raises ``FileNotFoundError`` when one of the files is missing and
    :class:`~hand_mesh_core.model_files.ModelFileError` when one is not a TFLite flatbuffer
    (empty, truncated, overwritten).
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as bundle:
        for member, path in zip(_BUNDLE_MEMBERS, bundle_sources(model_root)):
            if not path.is_file():
                raise FileNotFoundError(f"mediapipe model missing: {path} (expected mediapipe==0.10.21)")
            data = path.read_bytes()
            if data[4:8] != TFLITE_IDENTIFIER:
                raise ModelFileError(path, TFLITE_KIND, f"no TFLite identifier {TFLITE_IDENTIFIER!r} at bytes 4-8 "
                                     f"({len(data)} bytes): reinstall mediapipe==0.10.21")
            bundle.writestr(member, data)
    return buf.getvalue()


#: Palm keypoints (wrist and the four finger MCPs, MediaPipe order) used to compare hands.
PALM_KEYPOINTS = (0, 5, 9, 13, 17)

#: Two hands whose keypoint boxes overlap by at least this fraction of the smaller box ...
DUPLICATE_MIN_OVERLAP = 0.5
#: ... and whose palm points lie closer than this many palm lengths (mean) are one hand.
DUPLICATE_MAX_PALM_DISTANCE = 1.0


@dataclasses.dataclass(frozen=True)
class HandLandmarks:
    """MediaPipe's output for one hand.

    Attributes:
        keypoints_2d: float64 ``[21, 2]`` pixels (u right, v down, origin at the image's
            top-left corner), MediaPipe order.
        world: float64 ``[21, 3]`` metres, "world landmarks": metric 3D with the origin
            near the hand's centre, axes aligned with the camera (x right, y down, z away
            from the camera) but without perspective (the crop is treated as if seen
            along the optical axis).
        handedness: ``"left"`` / ``"right"`` (the person's hand).
        handedness_score: probability of that label, in [0.5, 1].
    """

    keypoints_2d: np.ndarray
    world: np.ndarray
    handedness: str
    handedness_score: float


def duplicate_pairs(keypoints_2d: np.ndarray) -> np.ndarray:
    """bool ``[N, N]`` (symmetric, False on the diagonal): which hands are the same hand twice.

    ``keypoints_2d``: ``[N, 21, 2]`` pixels, MediaPipe order. Hands ``i`` and ``j`` are one
    hand when (a) their keypoint boxes intersect over at least
    :data:`DUPLICATE_MIN_OVERLAP` of the smaller box, *and* (b) their palm points
    (:data:`PALM_KEYPOINTS`) are on average less than :data:`DUPLICATE_MAX_PALM_DISTANCE`
    palm lengths apart (palm length: mean wrist-to-MCP distance of the two hands).

    Measured on MediaPipe VIDEO-mode output (max 4 hands) over the first 150 frames of the
    clips in ``../shared/data`` (2,278 frames; 135 pairs of reports overlapping by >= 0.3):
    the rule marks 99 pairs (overlap 0.67-1.0, palm distance 0.18-0.98), all one hand twice
    where we looked (contact sheets of about 60 of them). It keeps 27 pairs of crossed
    hands in sign language (overlap <= 0.78, palm distance 1.14-1.97) and two hands
    gripping each other (overlap 0.42), and misses 8 pairs of one hand twice whose skeletons
    are rotated against each other (overlap 0.83-0.98, palm distance 1.08-1.48): the rule
    errs on the side of keeping hands.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    n = len(kp)
    if n < 2:
        return np.zeros((n, n), dtype=bool)
    lo, hi = kp.min(axis=1), kp.max(axis=1)
    inter = np.prod(np.clip(np.minimum(hi[:, None], hi[None]) - np.maximum(lo[:, None], lo[None]), 0.0, None), axis=-1)
    area = np.prod(hi - lo, axis=-1)
    overlap = inter / np.maximum(np.minimum(area[:, None], area[None]), 1e-9)
    palm = kp[:, PALM_KEYPOINTS]  # [N, 5, 2]
    palm_length = np.linalg.norm(palm[:, 1:] - palm[:, :1], axis=-1).mean(axis=1)  # [N]
    scale = np.maximum(0.5 * (palm_length[:, None] + palm_length[None]), 1e-9)
    palm_distance = np.linalg.norm(palm[:, None] - palm[None], axis=-1).mean(axis=-1) / scale
    same = (overlap >= DUPLICATE_MIN_OVERLAP) & (palm_distance < DUPLICATE_MAX_PALM_DISTANCE)
    np.fill_diagonal(same, False)
    return same


def suppress_duplicates(hands: list[HandLandmarks]) -> list[HandLandmarks]:
    """``hands`` without the second reports of a hand (:func:`duplicate_pairs`), order kept.

    Of two reports of one hand the one with the higher handedness score stays (the Tasks
    API exposes no other per-hand confidence; a report from a stale or partial region is the
    less certain one).
    """
    if len(hands) < 2:
        return list(hands)
    same = duplicate_pairs(np.stack([h.keypoints_2d for h in hands]))
    keep: list[int] = []
    for i in sorted(range(len(hands)), key=lambda k: -hands[k].handedness_score):
        if not any(same[i, j] for j in keep):
            keep.append(i)
    return [hands[i] for i in sorted(keep)]


class HandLandmarker:
    """MediaPipe Tasks ``HandLandmarker`` on RGB frames, in IMAGE or VIDEO mode.

    Args:
        max_hands: most hands reported (MediaPipe's ``num_hands``), >= 1.
        video: VIDEO mode: frames of one stream, landmarks of a frame seed the next
            frame's crops (the palm detector runs only when hands are missing). Timestamps
            must increase; :meth:`reset` starts a new stream.
        min_detection_confidence: palm detector threshold in [0, 1].
        min_presence_confidence: landmark model's hand-presence threshold in [0, 1].
        min_tracking_confidence: VIDEO mode threshold to keep tracking in [0, 1].
        model_root: folder of the ``mediapipe`` package whose model files are used (None =
            the installed wheel); a missing file raises ``FileNotFoundError``, a corrupt one
            :class:`~hand_mesh_core.model_files.ModelFileError`.
    """

    def __init__(
        self,
        max_hands: int = 4,
        video: bool = False,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model_root: str | Path | None = None,
    ) -> None:
        if max_hands < 1:
            raise ValueError(f"max_hands must be >= 1, got {max_hands}")
        for name, value in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_presence_confidence", min_presence_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.max_hands = int(max_hands)
        self.video = bool(video)
        self._thresholds = (float(min_detection_confidence), float(min_presence_confidence), float(min_tracking_confidence))
        self._mp = _import_mediapipe()
        self._model_root = model_root
        self._task = None
        self._last_ms = -1
        self._open()

    def _open(self) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        mode = vision.RunningMode.VIDEO if self.video else vision.RunningMode.IMAGE
        det, pres, track = self._thresholds
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=hand_landmarker_bundle(self._model_root)),
            running_mode=mode,
            num_hands=self.max_hands,
            min_hand_detection_confidence=det,
            min_hand_presence_confidence=pres,
            min_tracking_confidence=track,
        )
        sources = " + ".join(str(p) for p in bundle_sources(self._model_root))
        with reading(sources, "MediaPipe hand landmarker bundle (.task of two .tflite)"):
            self._task = vision.HandLandmarker.create_from_options(options)
        self._last_ms = -1

    def detect(self, image: np.ndarray, timestamp: float | None = None) -> list[HandLandmarks]:
        """Landmarks of every hand in ``image`` (``HxWx3 uint8`` RGB), each hand once.

        ``timestamp`` (seconds) is required in VIDEO mode; MediaPipe needs strictly
        increasing milliseconds, so a repeated or earlier time is moved 1 ms past the last.
        Raises ``ValueError`` for another image layout or a missing timestamp.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        if self.video:
            if timestamp is None:
                raise ValueError("VIDEO mode needs a timestamp (seconds) per frame")
            ms = max(int(round(timestamp * 1000.0)), self._last_ms + 1)
            self._last_ms = ms
            result = self._task.detect_for_video(mp_image, ms)
        else:
            result = self._task.detect(mp_image)
        hands = []
        for lms, world, cats in zip(result.hand_landmarks, result.hand_world_landmarks, result.handedness):
            uv = np.array([[p.x * width, p.y * height] for p in lms], dtype=np.float64)
            xyz = np.array([[p.x, p.y, p.z] for p in world], dtype=np.float64)
            best = max(cats, key=lambda c: c.score)
            hands.append(HandLandmarks(uv, xyz, best.category_name.lower(), float(best.score)))
        return suppress_duplicates(hands)

    def reset(self) -> None:
        """Start a new stream (VIDEO mode: forget tracked hands and the last timestamp)."""
        if self.video:
            self.close()
            self._open()

    def close(self) -> None:
        """Release MediaPipe's graph (also done on garbage collection)."""
        if self._task is not None:
            self._task.close()
            self._task = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass
