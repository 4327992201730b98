"""Pinhole camera intrinsics and projection (the camera optical frame of REP-103).

Conventions used across the library:

* 3D points are in metres in the camera optical frame: x right, y down, z forward.
* Pixels: u to the right, v down, origin at the top-left *corner* of the top-left pixel
  (OpenCV convention, so the centre of pixel (0, 0) is (0.5, 0.5) in continuous
  coordinates; a principal point at (W/2, H/2) is the image centre).
* ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, as ``sensor_msgs/CameraInfo.k``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Horizontal field of view assumed when no intrinsics are given (degrees). 60 degrees is
#: between a typical webcam (about 55-65) and a robot RGB-D colour camera (about 65-70).
DEFAULT_HFOV_DEG = 60.0


def intrinsics_from_fov(width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> np.ndarray:
    """Return ``K`` (3x3 float64, pixels) for square pixels, principal point at the centre.

    ``fx = fy = (width / 2) / tan(hfov / 2)``. Raises ``ValueError`` for a non-positive
    size or a field of view outside (1, 179) degrees.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not 1.0 < hfov_deg < 179.0:
        raise ValueError(f"horizontal field of view must be in (1, 179) degrees, got {hfov_deg}")
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def validate_intrinsics(K: np.ndarray | list | tuple) -> np.ndarray:
    """Check and return ``K`` as a 3x3 float64 array.

    Accepts a 3x3 array or 9 row-major numbers (``CameraInfo.k``). Raises ``ValueError``
    when the shape is wrong, a value is not finite, a focal length is not positive or the
    last row is not ``[0, 0, 1]``.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape == (9,):
        K = K.reshape(3, 3)
    if K.shape != (3, 3):
        raise ValueError(f"K must be 3x3 (or 9 numbers), got shape {K.shape}")
    if not np.isfinite(K).all():
        raise ValueError("K contains NaN or infinite values")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"last row of K must be [0, 0, 1], got {K[2].tolist()}")
    return K


#: Fields of view (degrees, horizontal and vertical) of plausible intrinsics, strictly between;
#: the range ``intrinsics_from_fov`` accepts.
PLAUSIBLE_FOV_DEG = (1.0, 179.0)


def implausible_intrinsics(K: np.ndarray | list | tuple, width: int, height: int) -> str | None:
    """Why ``K`` cannot be a real camera's intrinsics for a ``width`` x ``height`` image, or None.

    ``K`` must pass :func:`validate_intrinsics` (finite, positive focal lengths, last row
    ``[0, 0, 1]``), and then: the fields of view it implies, ``2 atan(W / 2 fx)`` and
    ``2 atan(H / 2 fy)``, lie strictly within :data:`PLAUSIBLE_FOV_DEG` (fx = fy = 1e30 is a
    0-degree camera; fx = 1e-6 a 180-degree one); ``fx / fy`` within [1/4, 4] (pixel aspect);
    the skew ``|K[0, 1]|`` at most ``fx``; and the principal point within the image extended
    by its own size on every side (``-W <= cx <= 2W``, ``-H <= cy <= 2H``: cropped streams
    move it, not that far). Raises ``ValueError`` for a non-positive size.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    try:
        K = validate_intrinsics(K)
    except ValueError as exc:
        return str(exc)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    low, high = PLAUSIBLE_FOV_DEG
    hfov = math.degrees(2.0 * math.atan(width / (2.0 * fx)))
    vfov = math.degrees(2.0 * math.atan(height / (2.0 * fy)))
    if not (low < hfov < high and low < vfov < high):
        return (f"fx={fx:g}, fy={fy:g} give a {hfov:.3g} x {vfov:.3g} degree field of view for {width}x{height} "
                f"(plausible: between {low:g} and {high:g})")
    if not 0.25 <= fx / fy <= 4.0:
        return f"fx / fy = {fx / fy:.3g} (plausible: 1/4 to 4)"
    if abs(K[0, 1]) > fx:
        return f"skew {K[0, 1]:g} larger than fx={fx:g}"
    if not (-width <= cx <= 2 * width and -height <= cy <= 2 * height):
        return f"principal point ({cx:g}, {cy:g}) far outside the {width}x{height} image"
    return None


def project(points: torch.Tensor, K: torch.Tensor, min_depth: float = 1e-4) -> torch.Tensor:
    """Project camera-frame points to pixels with a pinhole model (differentiable).

    Args:
        points: ``[..., N, 3]`` metres, optical frame.
        K: ``[3, 3]`` or ``[..., 3, 3]`` broadcastable against ``points[..., :1, :]``.
        min_depth: depths are clamped to at least this many metres to avoid division by 0.

    Returns:
        ``[..., N, 2]`` pixel coordinates ``(u, v)``.
    """
    z = points[..., 2:3].clamp(min=min_depth)
    xy = points[..., :2] / z
    fx = K[..., 0, 0].unsqueeze(-1)
    fy = K[..., 1, 1].unsqueeze(-1)
    cx = K[..., 0, 2].unsqueeze(-1)
    cy = K[..., 1, 2].unsqueeze(-1)
    return torch.stack([xy[..., 0] * fx + cx, xy[..., 1] * fy + cy], dim=-1)


def project_np(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`project`: ``[..., N, 3]`` metres -> ``[..., N, 2]`` pixels."""
    z = np.maximum(points[..., 2:3], 1e-4)
    uv = points[..., :2] / z
    return np.stack([uv[..., 0] * K[0, 0] + K[0, 2], uv[..., 1] * K[1, 1] + K[1, 2]], axis=-1)
