"""ROS image messages <-> numpy, the one conversion module every node uses.

``cv_bridge`` is used where it exists (a sourced ROS Humble/Jazzy); on machines without
it (the PyPI ROS wheels) an equivalent numpy/OpenCV path handles the encodings cameras
produce: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, ``mono16``, ``16UC1``,
``yuv422`` / ``uyvy`` and ``yuv422_yuy2`` / ``yuyv``. Encoding names follow
``sensor_msgs/image_encodings.hpp``.

Every decode returns an ``HxWx3 uint8`` RGB array, the input of
``hand_mesh_core`` predictors. Malformed messages raise :class:`ImageConversionError`
with the reason (the node logs and counts them; it never crashes on one).

Decompression bombs: a few hundred bytes of JPEG or PNG can declare 20000x20000 pixels
(1.2 GB once decoded). The declared size is read from the header first (Pillow's
``Image.open``, which parses the header only and decodes nothing) and a message over the
pixel limit (:func:`pixel_limit`, or the caller's) is refused before any decoding; raw
images are held to the same limit by their ``width`` x ``height`` fields.
"""

from __future__ import annotations

import array
import io
import warnings

import cv2
import numpy as np
import PIL.Image
from sensor_msgs.msg import CompressedImage, Image

try:  # a sourced ROS distribution provides the real cv_bridge
    from cv_bridge import CvBridge as _CvBridge  # type: ignore[import-not-found]

    # The PyPI project named cv-bridge is an unrelated pure-Python port that maps 16-bit
    # encodings to 8 bits; only trust the ROS package (it ships the C++ boost module).
    import cv_bridge.boost.cv_bridge_boost  # type: ignore[import-not-found]  # noqa: F401

    _BRIDGE = _CvBridge()
except Exception:  # noqa: BLE001 - any failure means "no usable cv_bridge"
    _BRIDGE = None

#: Encodings decoded without cv_bridge: name -> (channels, bytes per channel).
SUPPORTED_ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "8UC1": (1, 1),
    "8UC3": (3, 1),
    "mono16": (1, 2),
    "16UC1": (1, 2),
    "yuv422": (2, 1),  # UYVY byte order
    "uyvy": (2, 1),
    "yuv422_yuy2": (2, 1),  # YUYV byte order
    "yuyv": (2, 1),
}

#: Largest image accepted, in pixels (a 8K frame is 33 Mpx); larger messages are refused.
MAX_PIXELS = 50_000_000

#: Compressed formats decoded (Pillow's names), as ``sensor_msgs/CompressedImage`` carries them.
COMPRESSED_FORMATS = ("JPEG", "PNG")


def pixel_limit(max_image_side: int) -> int:
    """Default largest input (pixels) for a node working at ``max_image_side``: a square of
    twice that side (1920 -> 3840x3840 = 14.7 Mpx: a 12 Mpx photo passes, a 20000x20000
    bomb does not), capped at :data:`MAX_PIXELS`. The node's ``max_input_pixels`` overrides it."""
    return min(MAX_PIXELS, (2 * int(max_image_side)) ** 2)


class ImageConversionError(ValueError):
    """A message that cannot be turned into an RGB image (the text says why)."""


def has_cv_bridge() -> bool:
    """True when the ROS ``cv_bridge`` package is importable and used for decoding."""
    return _BRIDGE is not None


def validate_image_msg(msg: Image, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Check a ``sensor_msgs/Image`` without decoding it (cheap: header fields only).

    Returns ``(height, width)``. Raises :class:`ImageConversionError` for an unknown
    encoding, zero size, more than ``max_pixels`` pixels, an odd width for a YUV 4:2:2
    encoding (two pixels share one chroma pair), ``step`` smaller than ``width x bytes per
    pixel``, or ``data`` shorter than ``step x height``.
    """
    enc = msg.encoding
    if enc not in SUPPORTED_ENCODINGS:
        raise ImageConversionError(
            f"unsupported encoding {enc!r}; supported: {', '.join(sorted(SUPPORTED_ENCODINGS))}"
        )
    h, w = int(msg.height), int(msg.width)
    if h == 0 or w == 0:
        raise ImageConversionError(f"empty image ({w}x{h})")
    if h * w > max_pixels:
        raise ImageConversionError(f"image too large ({w}x{h} > {max_pixels} pixels)")
    channels, depth = SUPPORTED_ENCODINGS[enc]
    if channels == 2 and w % 2:
        raise ImageConversionError(f"{enc} needs an even width (4:2:2 pixel pairs), got {w}")
    min_step = w * channels * depth
    if msg.step < min_step:
        raise ImageConversionError(
            f"step {msg.step} is smaller than width x bytes per pixel = {min_step} ({enc})"
        )
    if len(msg.data) < msg.step * h:
        raise ImageConversionError(
            f"truncated data: {len(msg.data)} bytes < step x height = {msg.step * h}"
        )
    return h, w


def image_msg_to_rgb(msg: Image, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a contiguous ``HxWx3 uint8`` RGB array.

    16-bit images are scaled to 8 bits by their maximum (a depth or IR image still gives a
    visible picture). Raises :class:`ImageConversionError` for unknown encodings, a
    ``step`` inconsistent with the width, truncated data, zero size or over
    ``max_pixels`` pixels.
    """
    h, w = validate_image_msg(msg, max_pixels)
    enc = msg.encoding
    channels, depth = SUPPORTED_ENCODINGS[enc]
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=msg.step * h).reshape(h, msg.step)
    row = buf[:, : w * channels * depth]
    if depth == 2:
        dtype = np.dtype(">u2" if msg.is_bigendian else "<u2")
        img16 = np.ascontiguousarray(row).view(dtype).reshape(h, w).astype(np.float32)
        peak = float(img16.max()) or 1.0
        gray = np.clip(img16 * (255.0 / peak), 0, 255).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    img = row.reshape(h, w, channels)
    if enc in ("rgb8", "8UC3"):
        return np.ascontiguousarray(img)
    if enc == "bgr8":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if enc == "rgba8":
        return cv2.cvtColor(img, cv2.COLOR_RGBA2RGB)
    if enc == "bgra8":
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    if enc in ("mono8", "8UC1"):
        return cv2.cvtColor(img[..., 0], cv2.COLOR_GRAY2RGB)
    if enc in ("yuv422", "uyvy"):
        return cv2.cvtColor(img, cv2.COLOR_YUV2RGB_UYVY)
    return cv2.cvtColor(img, cv2.COLOR_YUV2RGB_YUYV)  # yuv422_yuy2 / yuyv


def validate_compressed_msg(msg: CompressedImage, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Check a ``sensor_msgs/CompressedImage`` without decoding it: header only (cheap).

    Returns the declared ``(height, width)``. Raises :class:`ImageConversionError` for empty
    data, a ``format`` field naming neither JPEG nor PNG (``compressedDepth`` included), a
    payload whose header is not a readable JPEG / PNG one, a zero size, or more than
    ``max_pixels`` declared pixels (a decompression bomb).
    """
    data = msg.data
    if len(data) == 0:
        raise ImageConversionError("empty compressed image")
    fmt = str(msg.format).lower()
    if fmt and ("compresseddepth" in fmt or not any(name in fmt for name in ("jpeg", "jpg", "png"))):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r}; supported: jpeg, png")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(io.BytesIO(bytes(data)), formats=COMPRESSED_FORMATS) as im:  # header only
                w, h = im.size
    except PIL.Image.DecompressionBombError as exc:
        raise ImageConversionError(f"compressed image declares too many pixels: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - Pillow raises several types on garbage
        raise ImageConversionError(f"compressed image ({msg.format!r}, {len(data)} bytes) has no readable "
                                   f"JPEG/PNG header: {type(exc).__name__}") from exc
    if w == 0 or h == 0:
        raise ImageConversionError(f"compressed image declares an empty size ({w}x{h})")
    if w * h > max_pixels:
        raise ImageConversionError(f"compressed image declares {w}x{h} pixels > {max_pixels} "
                                   f"({len(data)} bytes): refused before decoding")
    return h, w


def compressed_msg_to_rgb(msg: CompressedImage, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG/PNG) into ``HxWx3 uint8`` RGB.

    The header is checked first (:func:`validate_compressed_msg`, ``max_pixels``). Raises
    :class:`ImageConversionError` when it is refused or the payload does not decode.
    """
    h, w = validate_compressed_msg(msg, max_pixels)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ImageConversionError(f"compressed image ({msg.format!r}) does not decode: {exc}") from exc
    if bgr is None:
        raise ImageConversionError(f"compressed image ({msg.format!r}) does not decode")
    if bgr.shape[:2] != (h, w):
        raise ImageConversionError(f"compressed image decoded to {bgr.shape[1]}x{bgr.shape[0]}, "
                                   f"its header declares {w}x{h}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def validate_msg(msg: Image | CompressedImage, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """:func:`validate_image_msg` or :func:`validate_compressed_msg` by type: ``(height, width)``."""
    if isinstance(msg, CompressedImage):
        return validate_compressed_msg(msg, max_pixels)
    return validate_image_msg(msg, max_pixels)


def msg_to_rgb(msg: Image | CompressedImage, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode either image message type; uses cv_bridge for raw images when present.

    Messages over ``max_pixels`` (declared) are refused before decoding."""
    if isinstance(msg, CompressedImage):
        return compressed_msg_to_rgb(msg, max_pixels)
    if _BRIDGE is not None and msg.encoding in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
        validate_image_msg(msg, max_pixels)
        try:
            return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
        except Exception as exc:  # noqa: BLE001 - cv_bridge raises its own error types
            raise ImageConversionError(f"cv_bridge: {exc}") from exc
    return image_msg_to_rgb(msg, max_pixels)


def rgb_to_image_msg(rgb: np.ndarray, encoding: str = "rgb8") -> Image:
    """Build a ``sensor_msgs/Image`` from an ``HxWx3 uint8`` RGB array (header left empty).

    ``encoding`` is ``rgb8`` or ``bgr8``. Raises ``ValueError`` on another shape or dtype.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8, got shape {rgb.shape} dtype {rgb.dtype}")
    if encoding == "bgr8":
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding != "rgb8":
        raise ValueError(f"encoding must be rgb8 or bgr8, got {encoding!r}")
    msg = Image()
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = array.array("B", np.ascontiguousarray(rgb).tobytes())  # rclpy's native type: no copy loop
    return msg
