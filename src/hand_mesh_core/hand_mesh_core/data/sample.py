"""The labelled sample every dataset reader and the synthetic generator return.

One :class:`Sample` is one image with a :class:`HandLabel` per labelled hand. Conventions
(the library's, see :mod:`hand_mesh_core.camera` and :mod:`hand_mesh_core.results`):

* 2D: pixels of the image, u right, v down, origin at the top-left *corner* of the
  top-left pixel (OpenCV).
* 3D: metres in the camera optical frame of REP-103 (x right, y down, z forward) of the
  camera whose intrinsics ``K`` (3x3, pixels) the sample carries. Readers convert from
  the dataset's units (millimetres, centimetres) and frames (OpenGL) on reading.
* Keypoints: 21 in the MediaPipe / OpenPose order (wrist, thumb CMC/MCP/IP/tip, index
  MCP/PIP/DIP/tip, middle, ring, pinky; :data:`hand_mesh_core.hand_model.KEYPOINT_NAMES`).
  Each reader maps its dataset's order to this one and documents the mapping.
* ``pose``/``shape``/``transl``: MANO-style parameters (Romero et al. 2017) as in
  :class:`hand_mesh_core.results.HandResult`: 48 axis-angle numbers in radians
  (``global_orient`` in the optical frame + 45 ``hand_pose``), 10 ``betas``, translation
  in metres. They are given only where the dataset provides them; they refer to the
  MANO model the dataset was fitted with, whose conventions each reader documents.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import validate_intrinsics
from hand_mesh_core.media import load_rgb
from hand_mesh_core.results import SIDES

#: Number of keypoints of every label (MediaPipe / OpenPose order).
NUM_KEYPOINTS = 21


def _float_array(value, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _bool_array(value, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != (NUM_KEYPOINTS,):
        raise ValueError(f"{name} must have shape ({NUM_KEYPOINTS},), got {arr.shape}")
    return arr.astype(bool)


@dataclasses.dataclass
class HandLabel:
    """Ground truth of one hand in an image.

    Attributes:
        keypoints_2d: float32 ``[21, 2]`` pixels, MediaPipe order. Entries where ``valid``
            is False carry no information (readers write 0).
        valid: bool ``[21]``: the 2D position of the keypoint is known (annotated, or
            projected from 3D ground truth), occluded or not.
        visibility: bool ``[21]``: the keypoint is seen in the image: valid, inside the
            image and not occluded as far as the dataset says. Datasets that do not record
            occlusion give ``valid`` (restricted to the image where 3D-derived).
            Always a subset of ``valid``.
        handedness: ``"left"``, ``"right"`` (the person's hand) or None when unknown.
        keypoints_3d: float32 ``[21, 3]`` metres, optical frame, MediaPipe order, or None.
            Projecting it through the sample's ``K`` gives ``keypoints_2d``.
        pose: float32 ``[48]`` radians (``global_orient`` + ``hand_pose``), or None.
        shape: float32 ``[10]`` betas, or None.
        transl: float32 ``[3]`` metres, or None.
        bbox: float32 ``[4]`` pixels ``(x0, y0, x1, y1)`` as given by the dataset, or None
            (then :meth:`box` derives one from the keypoints).
        mask_path: image file holding this hand's segmentation, or None.
        mask_values: pixel values of ``mask_path`` that belong to this hand (label-map
            masks such as RHD's), or None for a binary mask (any value > 127).
        mask: bool ``[H, W]`` mask of the hand's visible pixels held in memory (synthetic
            data), or None.

    Raises ``ValueError`` on construction for a wrong shape, a non-finite value, an
    unknown side, ``visibility`` outside ``valid`` or an inverted box.
    """

    keypoints_2d: np.ndarray
    valid: np.ndarray
    visibility: np.ndarray
    handedness: str | None = None
    keypoints_3d: np.ndarray | None = None
    pose: np.ndarray | None = None
    shape: np.ndarray | None = None
    transl: np.ndarray | None = None
    bbox: np.ndarray | None = None
    mask_path: Path | None = None
    mask_values: tuple[int, ...] | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints_2d = _float_array(self.keypoints_2d, (NUM_KEYPOINTS, 2), "keypoints_2d")
        self.valid = _bool_array(self.valid, "valid")
        self.visibility = _bool_array(self.visibility, "visibility")
        if (self.visibility & ~self.valid).any():
            raise ValueError("visibility must be a subset of valid (a visible keypoint has a known position)")
        if self.handedness is not None and self.handedness not in SIDES:
            raise ValueError(f"handedness must be 'left', 'right' or None, got {self.handedness!r}")
        if self.keypoints_3d is not None:
            self.keypoints_3d = _float_array(self.keypoints_3d, (NUM_KEYPOINTS, 3), "keypoints_3d")
        if self.pose is not None:
            self.pose = _float_array(self.pose, (48,), "pose")
        if self.shape is not None:
            self.shape = _float_array(self.shape, (10,), "shape")
        if self.transl is not None:
            self.transl = _float_array(self.transl, (3,), "transl")
        if self.bbox is not None:
            self.bbox = _float_array(self.bbox, (4,), "bbox")
            if self.bbox[2] < self.bbox[0] or self.bbox[3] < self.bbox[1]:
                raise ValueError(f"bbox must be (x0, y0, x1, y1) with x0 <= x1, y0 <= y1, got {self.bbox}")
        if self.mask_path is not None:
            self.mask_path = Path(self.mask_path)
        if self.mask_values is not None:
            self.mask_values = tuple(int(v) for v in self.mask_values)
        if self.mask is not None:
            self.mask = np.asarray(self.mask, dtype=bool)
            if self.mask.ndim != 2:
                raise ValueError(f"mask must be HxW, got shape {self.mask.shape}")

    @property
    def num_valid(self) -> int:
        """Number of keypoints with a known 2D position."""
        return int(self.valid.sum())

    def box(self) -> np.ndarray:
        """float32 ``[4]`` ``(x0, y0, x1, y1)`` pixels: ``bbox`` if given, else the tight box
        around the valid keypoints. Raises ``ValueError`` when neither exists."""
        if self.bbox is not None:
            return self.bbox
        if not self.valid.any():
            raise ValueError("hand has no bbox and no valid keypoint to derive one from")
        return bbox_from_points(self.keypoints_2d[self.valid])

    def box_size(self) -> float:
        """Larger side of :meth:`box` in pixels: the normaliser of 2D errors and PCK
        (the convention of mmpose's hand benchmarks, "PCK normalised by bbox size")."""
        x0, y0, x1, y1 = self.box()
        return float(max(x1 - x0, y1 - y0))

    def load_mask(self, image_size: tuple[int, int] | None = None) -> np.ndarray | None:
        """bool ``[H, W]`` mask of this hand, or None when the dataset has none.

        Uses :attr:`mask` if set, else reads ``mask_path`` (grayscale) and keeps the pixels
        equal to one of ``mask_values``, or above 127 for a binary mask (JPEG-tolerant).
        ``image_size`` ``(W, H)``, when given, is checked against the mask. Raises
        ``FileNotFoundError`` / ``ValueError`` for a missing or undecodable file or a
        size mismatch.
        """
        if self.mask is not None:
            mask = self.mask
        elif self.mask_path is not None:
            if not self.mask_path.is_file():
                raise FileNotFoundError(f"mask not found: {self.mask_path}")
            gray = cv2.imread(str(self.mask_path), cv2.IMREAD_GRAYSCALE)
            if gray is None:
                raise ValueError(f"cannot decode mask: {self.mask_path}")
            mask = np.isin(gray, self.mask_values) if self.mask_values is not None else gray > 127
        else:
            return None
        if image_size is not None and (mask.shape[1], mask.shape[0]) != tuple(image_size):
            raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {image_size[0]}x{image_size[1]}")
        return mask


@dataclasses.dataclass
class Sample:
    """One image and the labels of its hands.

    Attributes:
        hands: one :class:`HandLabel` per labelled hand (may be empty).
        image_path: the image file, or None when ``image`` holds the pixels.
        image: ``HxWx3 uint8`` RGB, or None (read ``image_path`` with :meth:`load_image`).
        image_size: ``(width, height)`` pixels, or None when the dataset does not record
            it (then it is the size of the loaded image).
        K: float64 ``[3, 3]`` intrinsics in pixels, or None when unknown.
        all_hands_labelled: True when every hand visible in the image has a label, so
            that an unmatched prediction is a false positive (detection precision is
            meaningful); False for datasets that label a subset (one hand per image,
            persons above a size, ...).
        dataset: short name of the source (``"freihand"``, ``"rhd"``, ``"synthetic"``...).
        sample_id: identifier of the sample within its dataset (for reports).

    Raises ``ValueError`` when neither an image nor a path is given, for an invalid
    ``K`` or image, or a size that disagrees with the image.
    """

    hands: list[HandLabel]
    image_path: Path | None = None
    image: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    K: np.ndarray | None = None
    all_hands_labelled: bool = False
    dataset: str = ""
    sample_id: str = ""

    def __post_init__(self) -> None:
        self.hands = list(self.hands)
        for i, hand in enumerate(self.hands):
            if not isinstance(hand, HandLabel):
                raise ValueError(f"hands[{i}] is a {type(hand).__name__}, not a HandLabel")
        if self.image_path is None and self.image is None:
            raise ValueError("a Sample needs an image_path or an image")
        if self.image_path is not None:
            self.image_path = Path(self.image_path)
        if self.image is not None:
            img = np.asarray(self.image)
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"image must be HxWx3 uint8 RGB, got {img.shape} {img.dtype}")
            size = (img.shape[1], img.shape[0])
            if self.image_size is not None and tuple(self.image_size) != size:
                raise ValueError(f"image_size {tuple(self.image_size)} disagrees with the image {size}")
            self.image_size = size
        if self.image_size is not None:
            w, h = (int(v) for v in self.image_size)
            if w <= 0 or h <= 0:
                raise ValueError(f"image_size must be positive (width, height), got {self.image_size}")
            self.image_size = (w, h)
        if self.K is not None:
            self.K = validate_intrinsics(self.K)

    def load_image(self) -> np.ndarray:
        """``HxWx3 uint8`` RGB pixels (``image`` or the file read with OpenCV).

        Raises ``FileNotFoundError``/``ValueError`` for a missing or undecodable file, or
        an image whose size disagrees with ``image_size``.
        """
        if self.image is not None:
            return self.image
        img = load_rgb(self.image_path)
        size = (img.shape[1], img.shape[0])
        if self.image_size is not None and size != self.image_size:
            raise ValueError(f"{self.image_path} is {size[0]}x{size[1]}, the labels say {self.image_size}")
        return img


def visible_in_image(keypoints_2d: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """bool ``[..., N]``: the pixel points ``[..., N, 2]`` lie inside a ``(W, H)`` image
    (``0 <= u < W`` and ``0 <= v < H``, corner-origin pixel coordinates)."""
    w, h = image_size
    u, v = keypoints_2d[..., 0], keypoints_2d[..., 1]
    return (u >= 0) & (u < w) & (v >= 0) & (v < h)


__all__ = ["HandLabel", "Sample", "NUM_KEYPOINTS", "visible_in_image"]
