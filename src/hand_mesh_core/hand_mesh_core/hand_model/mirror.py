"""Left/right mirroring of points and poses (reflection x -> -x).

Mirroring a right hand through the plane x = 0 of its frame gives a left hand. A rotation
``R`` becomes ``M R M`` with ``M = diag(-1, 1, 1)``; for an axis-angle vector ``r`` this is
``-M r = (r_x, -r_y, -r_z)``, the same rule for ``global_orient`` and every joint of
``hand_pose`` (standard in MANO data augmentation, e.g. InterHand2.6M / FreiHAND flips).
The same rule holds for a horizontally flipped camera image, since flipping the image is
x -> -x in the camera optical frame (with the principal point moved to ``W - cx``).
"""

from __future__ import annotations

import numpy as np
import torch

_POSE_SIGN = (1.0, -1.0, -1.0)
_POINT_SIGN = (-1.0, 1.0, 1.0)


def _signed(x, sign: tuple[float, float, float]):
    if isinstance(x, torch.Tensor):
        s = torch.tensor(sign, dtype=x.dtype, device=x.device)
    else:
        x = np.asarray(x)
        s = np.asarray(sign, dtype=x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)
    if x.shape[-1] % 3 != 0:
        raise ValueError(f"last dimension must be a multiple of 3, got shape {tuple(x.shape)}")
    shape = x.shape
    return (x.reshape(*shape[:-1], -1, 3) * s).reshape(shape)


def mirror_pose(pose):
    """Mirror axis-angle rotations ``[..., 3k]`` (radians): each ``(x, y, z) -> (x, -y, -z)``.

    Works on ``global_orient [B, 3]``, ``hand_pose [B, 45]`` or a full ``[B, 48]`` pose,
    torch or numpy. Raises ``ValueError`` when the last dimension is not a multiple of 3.
    """
    return _signed(pose, _POSE_SIGN)


def mirror_points(points):
    """Mirror points ``[..., 3]`` (or ``[..., 3k]``) through the plane x = 0: ``x -> -x``."""
    return _signed(points, _POINT_SIGN)
