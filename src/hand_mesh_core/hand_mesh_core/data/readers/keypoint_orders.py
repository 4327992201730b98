"""Keypoint orders of the public hand datasets, as index maps to the MediaPipe order.

Each map ``M`` is a list of 21 indices such that ``mediapipe = source[M]``: entry ``i`` is
the index, in the dataset's own per-hand order, of MediaPipe keypoint ``i`` (wrist,
thumb CMC/MCP/IP/tip, index MCP/PIP/DIP/tip, middle, ring, pinky).

Sources of the dataset orders:

* FreiHAND, OneHand10K, COCO-WholeBody hands, CMU Panoptic HandDB: already the OpenPose
  order (wrist, then each finger from its base to its tip), identical to MediaPipe's
  (FreiHAND README; COCO-WholeBody paper, Jin et al. ECCV 2020, fig. 2; OneHand10K and
  Panoptic as released by mmpose, ``configs/_base_/datasets/*.py``).
* RHD (Zimmermann & Brox 2017, ``RHD_published_v2/README``): per hand "0: wrist,
  1-4: thumb [tip to palm], 5-8: index, 9-12: middle, 13-16: ring, 17-20: pinky"; 42
  keypoints, left hand (0-20) then right hand (21-41). mmpose's converted RHD JSON keeps
  this tips-first order (its category lists OpenPose names, but the 3D distances from the
  wrist show index 1 is the thumb tip and index 4 the thumb base; checked on the
  annotated subset).
* InterHand2.6M (Moon et al. ECCV 2020, ``annotations/skeleton.txt``): per hand
  thumb4 (tip), thumb3, thumb2, thumb1, index4..1, middle4..1, ring4..1, pinky4..1, wrist;
  42 joints, right hand (0-20) then left hand (21-41).
* HO3D (Hampali et al. CVPR 2020, ``ho3d`` scripts ``jointsMapManoToSimple``): MANO's 16
  joints (wrist; index, middle, pinky, ring, thumb, three each) then the five tips
  (thumb, index, middle, ring, pinky).
"""

from __future__ import annotations

import numpy as np

#: Identity: datasets already in the OpenPose / MediaPipe order.
OPENPOSE_TO_MEDIAPIPE: list[int] = list(range(21))

#: RHD per-hand order (wrist, each finger tip -> base) to MediaPipe.
RHD_TO_MEDIAPIPE: list[int] = [0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17]

#: InterHand2.6M per-hand order (each finger tip -> base, wrist last) to MediaPipe.
INTERHAND_TO_MEDIAPIPE: list[int] = [20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16]

#: MANO 16 joints + 5 tips (thumb, index, middle, ring, pinky) to MediaPipe (HO3D).
MANO21_TO_MEDIAPIPE: list[int] = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]


def reorder(values: np.ndarray, mapping: list[int], axis: int = 0) -> np.ndarray:
    """Keypoints of ``values`` (21 along ``axis``, e.g. ``[21, 2]``, ``[21]``) in MediaPipe
    order: ``np.take(values, mapping, axis)``. Raises ``ValueError`` unless that axis has
    21 entries."""
    values = np.asarray(values)
    if values.ndim == 0 or values.shape[axis] != 21:
        raise ValueError(f"expected 21 keypoints along axis {axis}, got shape {values.shape}")
    return np.take(values, mapping, axis=axis)


__all__ = [
    "OPENPOSE_TO_MEDIAPIPE",
    "RHD_TO_MEDIAPIPE",
    "INTERHAND_TO_MEDIAPIPE",
    "MANO21_TO_MEDIAPIPE",
    "reorder",
]
