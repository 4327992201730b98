"""Changing the camera frame of 3D labels: points and MANO parameters.

Datasets give 3D labels in other frames than the optical frame the library uses (HO3D:
OpenGL camera, y up and z backwards; InterHand2.6M: world frame plus camera extrinsics).
A rigid change of frame ``x' = R x + c`` maps points directly. MANO parameters need
care because ``global_orient`` rotates the hand about its root joint: MANO (Romero et al.
2017, as implemented by ``smplx``) poses a vertex as ``v = G (v0 - j0) + j0 + transl``,
with ``j0`` the root joint (wrist) of the shaped template and ``G`` the global rotation.
The same hand in the new frame is ``R v + c = (R G)(v0 - j0) + j0 + transl'`` with
``transl' = R (j0 + transl) + c - j0``. Since the posed wrist is ``w = j0 + transl``
(the root does not move under its own rotation), ``j0 = w - transl`` and

    ``global_orient' = R G``,   ``transl' = transl + R w + c - w``,

which needs the labelled wrist position ``w`` but not the MANO model files.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

#: OpenGL camera frame (x right, y up, z backwards) -> optical frame (x right, y down,
#: z forward): a rotation of 180 degrees about x (HO3D's ``coordChangeMat``).
OPENGL_TO_OPTICAL = np.diag([1.0, -1.0, -1.0])


def transform_points(points: np.ndarray, rotation: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """``points [..., 3]`` -> ``rotation @ p + offset`` (offset in the points' units, default 0)."""
    points = np.asarray(points, dtype=np.float64)
    out = points @ np.asarray(rotation, dtype=np.float64).T
    return out if offset is None else out + np.asarray(offset, dtype=np.float64)


def transform_mano_parameters(
    pose: np.ndarray, transl: np.ndarray, wrist: np.ndarray, rotation: np.ndarray, offset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MANO ``pose [48]`` (axis-angle, rad) and ``transl [3]`` re-expressed after ``x' = R x + c``.

    Args:
        pose: 48 numbers: ``global_orient`` (3) then ``hand_pose`` (45, unchanged).
        transl: translation in the old frame.
        wrist: posed root joint (wrist) position ``[3]`` in the old frame, same units.
        rotation: ``R`` ``[3, 3]``, a proper rotation.
        offset: ``c`` ``[3]`` (default 0).

    Returns:
        ``(pose', transl')`` float64, see the module docstring for the derivation.
        Raises ``ValueError`` for wrong shapes or a rotation that is not orthonormal
        with determinant +1.
    """
    pose = np.asarray(pose, dtype=np.float64).reshape(-1)
    transl = np.asarray(transl, dtype=np.float64).reshape(-1)
    wrist = np.asarray(wrist, dtype=np.float64).reshape(-1)
    R = np.asarray(rotation, dtype=np.float64)
    if pose.shape != (48,) or transl.shape != (3,) or wrist.shape != (3,) or R.shape != (3, 3):
        raise ValueError(f"need pose [48], transl [3], wrist [3], rotation [3, 3]; got {pose.shape}, {transl.shape}, {wrist.shape}, {R.shape}")
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError("rotation must be orthonormal with determinant +1")
    c = np.zeros(3) if offset is None else np.asarray(offset, dtype=np.float64).reshape(3)
    out = pose.copy()
    out[:3] = Rotation.from_matrix(R @ Rotation.from_rotvec(pose[:3]).as_matrix()).as_rotvec()
    return out, transl + R @ wrist + c - wrist


__all__ = ["OPENGL_TO_OPTICAL", "transform_points", "transform_mano_parameters"]
