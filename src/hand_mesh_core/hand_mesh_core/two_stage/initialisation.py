"""Closed-form starting point of the hand-model fit (no iterations).

* :func:`ray_rotation` — MediaPipe predicts its metric "world" landmarks from a crop, as if
  the hand were seen along the optical axis; rotating them by the smallest rotation that
  takes the optical axis onto the ray through the hand restores the perspective of an
  off-centre hand.
* :func:`kabsch` — best rotation between two point sets (Kabsch 1976).
* :func:`solve_translation` — where a rigid metric skeleton must be so that it projects
  onto given pixels: linear least squares on the pinhole equations. Its depth follows from
  the skeleton's metric size against its size in pixels.
* :func:`lift_to_rays` — the located skeleton moved onto the rays of the 2D landmarks
  (2D from the landmarks, depth profile from the world landmarks): the IK target.
* :func:`inverse_kinematics` — global orientation and per-joint rotations (axis-angle, MANO
  joint order) that point every bone of the hand model's rest pose along the matching bone
  of a target skeleton: Kabsch on the rigid palm, then, down each finger, the smallest
  rotation taking the rest bone onto the target bone expressed in the parent's frame
  (the "swing" of a swing-twist decomposition; the unobservable twist is left at zero).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from hand_mesh_core.hand_model.keypoints import KINEMATIC_LEVELS, MANO_PARENTS, MANO_TO_KEYPOINTS

#: Keypoints (MediaPipe order) of the rigid palm: wrist and the index/middle/ring/pinky MCPs.
PALM_KEYPOINTS = (0, 5, 9, 13, 17)

#: Keypoint index (MediaPipe order) of each of the 16 MANO joints.
JOINT_KEYPOINT = tuple(MANO_TO_KEYPOINTS.index(j) for j in range(16))


def pixel_rays(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """``[M, 3]`` rays ``K^-1 [u, v, 1]`` (z = 1, optical frame) of pixels ``[M, 2]``.

    Written out for the upper-triangular ``K`` (skew allowed) instead of a general
    inverse: LAPACK calls for 3x3 matrices cost milliseconds on a busy CPU.
    """
    fx, skew, cx, fy, cy = K[0, 0], K[0, 1], K[0, 2], K[1, 1], K[1, 2]
    y = (pixels[:, 1] - cy) / fy
    x = (pixels[:, 0] - cx - skew * y) / fx
    return np.stack([x, y, np.ones_like(x)], axis=1)


def ray_rotation(K: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """``[3, 3]`` smallest rotation taking the optical axis ``(0, 0, 1)`` onto the ray through ``pixel``.

    ``pixel``: ``[2]`` (u, v) pixels; the ray is ``K^-1 [u, v, 1]`` in the optical frame.
    """
    ray = pixel_rays(np.asarray(pixel, dtype=np.float64).reshape(1, 2), K)[0]
    return _swing(np.array([0.0, 0.0, 1.0]), ray)


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation ``R [3, 3]`` minimising ``sum_i |R (s_i - mean s) - (t_i - mean t)|^2`` (Kabsch 1976).

    ``source``, ``target``: ``[M, 3]`` corresponding points, ``M >= 3``.
    """
    s = source - source.mean(axis=0)
    t = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(s.T @ t)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def solve_translation(points: np.ndarray, pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Translation ``t [3]`` (metres) that best projects the rigid ``points + t`` onto ``pixels``.

    Linear least squares on ``u_i (t_z + p_iz) = f_x (t_x + p_ix) + c_x (t_z + p_iz)`` and
    the same in ``v`` (the pinhole model multiplied out; exact for noise-free data).
    ``points``: ``[M, 3]`` metres, axes of the optical frame; ``pixels``: ``[M, 2]``.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    u, v = pixels[:, 0], pixels[:, 1]
    px, py, pz = points[:, 0], points[:, 1], points[:, 2]
    zeros = np.zeros_like(u)
    A = np.concatenate([
        np.stack([np.full_like(u, fx), zeros, cx - u], axis=1),
        np.stack([zeros, np.full_like(v, fy), cy - v], axis=1),
    ])
    b = np.concatenate([u * pz - fx * px - cx * pz, v * pz - fy * py - cy * pz])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def lift_to_rays(points: np.ndarray, pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Move each 3D point along the camera ray of its pixel, keeping its depth.

    ``points``: ``[M, 3]`` metres (optical frame, e.g. world landmarks placed by
    :func:`solve_translation`); ``pixels``: ``[M, 2]``. Returns ``[M, 3]``
    ``z_i K^-1 [u_i, v_i, 1]``: a skeleton that projects exactly onto the pixels and has
    the depth profile of ``points``.
    """
    return pixel_rays(pixels, K) * points[:, 2:3]


# skew(v).reshape(9) = v @ _SKEW_BASIS (cross-product matrix rows)
_SKEW_BASIS = np.array([
    [0, 0, 0, 0, 0, -1, 0, 1, 0],
    [0, 0, 1, 0, 0, 0, -1, 0, 0],
    [0, -1, 0, 1, 0, 0, 0, 0, 0],
], dtype=np.float64)
_EYE9 = np.eye(3).reshape(9)


def _rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` of axis-angle vectors ``[..., 3]`` (Rodrigues' formula
    ``R = cos(t) I + sin(t) [a]x + (1 - cos t) a a^T``, unit axis ``a``, angle ``t``)."""
    angle = np.sqrt((rotvec * rotvec).sum(-1, keepdims=True))
    axis = rotvec / np.maximum(angle, 1e-12)
    s, c = np.sin(angle), np.cos(angle)
    outer = (axis[..., :, None] * axis[..., None, :]).reshape(*axis.shape[:-1], 9)
    flat = c * _EYE9 + s * (axis @ _SKEW_BASIS) + (1.0 - c) * outer
    return flat.reshape(*rotvec.shape[:-1], 3, 3)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a x b`` over the last axis (``np.cross`` costs several times more for small arrays)."""
    return a[..., [1, 2, 0]] * b[..., [2, 0, 1]] - a[..., [2, 0, 1]] * b[..., [1, 2, 0]]


def _swing_rotvec(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[..., 3]`` axis-angle of the smallest rotations taking directions ``a [..., 3]`` onto ``b [..., 3]``."""
    a = a / np.sqrt((a * a).sum(-1, keepdims=True))
    b = b / np.sqrt((b * b).sum(-1, keepdims=True))
    axis = _cross(a, b)
    s = np.sqrt((axis * axis).sum(-1, keepdims=True))
    angle = np.arctan2(s, (a * b).sum(-1, keepdims=True))
    return axis / np.maximum(s, 1e-12) * angle


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[..., 3, 3]`` smallest rotations taking directions ``a [..., 3]`` onto ``b [..., 3]``."""
    return _rodrigues(_swing_rotvec(a, b))


def inverse_kinematics(rest_keypoints: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotations that pose the rest hand like ``targets`` (bone directions only).

    Args:
        rest_keypoints: ``[21, 3]`` the model's keypoints (MediaPipe order) with zero
            pose, orientation and translation (MANO's canonical frame).
        targets: ``[N, 21, 3]`` target keypoints (any translation; optical-frame axes).

    Returns:
        ``(global_orient [N, 3], hand_pose [N, 45])`` axis-angle radians, MANO joint order,
        each joint's rotation relative to its parent as in MANO's forward kinematics
        ``G_j = G_parent(j) R_j`` (the full pose: a model's mean pose is not subtracted).
        The finger joints' swings are built as axis-angles (angle in ``[0, pi]``); the
        palm's Kabsch rotation is converted with SciPy (any angle).
    """
    targets = np.asarray(targets, dtype=np.float64)
    N = targets.shape[0]
    palm = list(PALM_KEYPOINTS)
    rotvecs = np.zeros((N, 16, 3))
    root = np.stack([kabsch(rest_keypoints[palm], targets[n, palm]) for n in range(N)])  # [N, 3, 3]
    rotvecs[:, 0] = Rotation.from_matrix(root).as_rotvec()
    parent = np.broadcast_to(root[:, None], (N, 5, 3, 3))  # global rotation of each level's parents
    for level in KINEMATIC_LEVELS[1:]:  # the 5 joints of a level are independent
        joints = list(level)
        kps = [JOINT_KEYPOINT[j] for j in joints]
        children = [k + 1 for k in kps]
        rest_bone = rest_keypoints[children] - rest_keypoints[kps]  # [5, 3]
        target_bone = targets[:, children] - targets[:, kps]  # [N, 5, 3]
        in_parent = (target_bone[..., None, :] @ parent)[..., 0, :]  # parent^T target
        swing = _swing_rotvec(np.broadcast_to(rest_bone, in_parent.shape), in_parent)
        rotvecs[:, joints] = swing
        parent = parent @ _rodrigues(swing)  # levels are ordered finger by finger (KINEMATIC_LEVELS)
    return rotvecs[:, 0], rotvecs[:, 1:].reshape(N, 45)


__all__ = [
    "PALM_KEYPOINTS", "pixel_rays", "ray_rotation", "kabsch", "solve_translation", "lift_to_rays", "inverse_kinematics",
]
