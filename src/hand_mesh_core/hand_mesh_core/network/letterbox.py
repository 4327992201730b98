"""Letterboxing: fit an image of any size into the network's square input, keeping its aspect.

The image is resized by ``(sx, sy)`` so that its longer side equals the input size (the
two factors differ only by rounding of the new size), then padded symmetrically with
:data:`PAD_VALUE`. With pixel coordinates measured from the top-left *corner* (the
library's convention, :mod:`hand_mesh_core.camera`; ``cv2.resize`` samples consistently
with it), the map from original to network pixels is exactly affine::

    u_net = sx * u + pad_x,   v_net = sy * v + pad_y,   i.e.  p_net = A p  (homogeneous)

so the intrinsics of the network input are ``K_net = A @ K``: a ray through a pixel of the
original image goes through its letterboxed pixel with ``K_net``. Decoding back-projects
with ``K_net`` and therefore returns 3D points in the real camera's frame, and projecting
them with the real ``K`` gives original-image pixels.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

#: Grey level of the padding (RGB, all channels). Training and inference must agree.
PAD_VALUE = 0


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """The affine map of one letterboxing.

    Attributes:
        scale: ``(sx, sy)`` resize factors (new size / original size).
        pad: ``(pad_x, pad_y)`` pixels of padding on the left and top.
        size: side of the square network input in pixels.
        image_size: ``(width, height)`` of the original image.
    """

    scale: tuple[float, float]
    pad: tuple[int, int]
    size: int
    image_size: tuple[int, int]

    @property
    def matrix(self) -> np.ndarray:
        """``A`` float64 ``[3, 3]`` mapping original pixels to network pixels (homogeneous)."""
        (sx, sy), (px, py) = self.scale, self.pad
        return np.array([[sx, 0.0, px], [0.0, sy, py], [0.0, 0.0, 1.0]])

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """``K_net = A @ K`` (float64 ``[3, 3]``): the intrinsics of the network input."""
        return self.matrix @ np.asarray(K, dtype=np.float64)

    def to_network(self, uv: np.ndarray) -> np.ndarray:
        """Original-image pixels ``[..., 2]`` -> network-input pixels."""
        uv = np.asarray(uv, dtype=np.float64)
        return uv * np.asarray(self.scale) + np.asarray(self.pad, dtype=np.float64)

    def to_image(self, uv_net: np.ndarray) -> np.ndarray:
        """Network-input pixels ``[..., 2]`` -> original-image pixels (inverse of :meth:`to_network`)."""
        uv_net = np.asarray(uv_net, dtype=np.float64)
        return (uv_net - np.asarray(self.pad, dtype=np.float64)) / np.asarray(self.scale)


def fit_letterbox(width: int, height: int, size: int) -> Letterbox:
    """The :class:`Letterbox` fitting a ``width x height`` image into ``size x size``.

    Raises ``ValueError`` for non-positive sizes.
    """
    if width <= 0 or height <= 0 or size <= 0:
        raise ValueError(f"sizes must be positive, got image {width}x{height}, input {size}")
    s = size / max(width, height)
    new_w = min(size, max(1, round(width * s)))
    new_h = min(size, max(1, round(height * s)))
    return Letterbox(
        scale=(new_w / width, new_h / height),
        pad=((size - new_w) // 2, (size - new_h) // 2),
        size=size,
        image_size=(width, height),
    )


def letterbox_image(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize and pad ``image`` (``HxWx3 uint8``) into a ``size x size x 3`` uint8 canvas.

    Area interpolation when shrinking, bilinear when enlarging. Returns the canvas and its
    :class:`Letterbox`. Raises ``ValueError`` for an image that is not ``HxWx3 uint8``.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    box = fit_letterbox(w, h, size)
    new_w = round(w * box.scale[0])
    new_h = round(h * box.scale[1])
    interp = cv2.INTER_AREA if new_w < w else cv2.INTER_LINEAR
    resized = image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=interp)
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    px, py = box.pad
    canvas[py : py + new_h, px : px + new_w] = resized
    return canvas, box
