"""Named hand poses (flat, relaxed, fist, point, pinch, spread, thumbs-up) for tests,
pictures and synthetic data.

Each pose is written as anatomical angles in degrees, (flexion, abduction, twist) per
MANO joint (see :mod:`.joint_limits`), and converted to MANO ``hand_pose`` axis-angle with
the model's joint frames, so the same names work for both sides and both backends.
All poses lie inside :data:`~.joint_limits.JOINT_LIMITS_DEG`.
"""

from __future__ import annotations

import torch

from hand_mesh_core.hand_model.joint_limits import pose_from_anatomical

_FINGERS = {"index": 1, "middle": 4, "pinky": 7, "ring": 10}


def _curl(mcp: float, pip: float, dip: float, fingers=tuple(_FINGERS), abd: float = 0.0):
    out = {}
    for f in fingers:
        b = _FINGERS[f]
        out[b] = (mcp, abd, 0.0)
        out[b + 1] = (pip, 0.0, 0.0)
        out[b + 2] = (dip, 0.0, 0.0)
    return out


def _thumb(cmc: tuple[float, float, float], mcp: float, ip: float):
    return {13: cmc, 14: (mcp, 0.0, 0.0), 15: (ip, 0.0, 0.0)}


#: name -> {MANO joint: (flexion, abduction, twist) degrees}; joints left out stay at 0.
NAMED_POSES: dict[str, dict[int, tuple[float, float, float]]] = {
    "flat": {},
    "relaxed": {**_curl(20.0, 30.0, 15.0), **_thumb((10.0, 0.0, 0.0), 15.0, 15.0)},
    # a closed fist, thumb across the middle phalanges of index and middle finger (thumb
    # angles: the closest thumb tip to the palm centre that stays in front of the curled
    # fingers, found by a grid search over the thumb's joint limits)
    "fist": {**_curl(90.0, 105.0, 75.0), 1: (90.0, 10.0, -12.0),
             **_thumb((5.0, 0.0, -15.0), 60.0, 80.0)},
    "point": {**_curl(85.0, 100.0, 65.0, ("middle", "ring", "pinky")),
              **_curl(5.0, 5.0, 5.0, ("index",)), **_thumb((35.0, -15.0, 25.0), 35.0, 30.0)},
    "pinch": {**_curl(45.0, 45.0, 25.0, ("index",)), **_curl(25.0, 30.0, 15.0, ("middle", "ring", "pinky")),
              **_thumb((30.0, 15.0, 0.0), 10.0, 20.0)},  # thumb tip on the index tip
    "spread": {1: (0.0, 15.0, 0.0), 4: (0.0, 2.0, 0.0), 10: (0.0, -10.0, 0.0), 7: (0.0, -20.0, 0.0),
               13: (-10.0, 20.0, 0.0), 14: (-5.0, 0.0, 0.0), 15: (-5.0, 0.0, 0.0)},
    "thumbs_up": {**_curl(90.0, 105.0, 75.0), 1: (90.0, 10.0, -12.0),
                  **_thumb((30.0, -15.0, -30.0), 30.0, -20.0)},  # thumb along the fingers' rest direction
}

POSE_NAMES: tuple[str, ...] = tuple(NAMED_POSES)


def named_pose_angles(name: str) -> torch.Tensor:
    """Anatomical angles ``[15, 3]`` (radians, float64) of a named pose (joints 1..15)."""
    if name not in NAMED_POSES:
        raise ValueError(f"unknown pose {name!r}; known: {', '.join(POSE_NAMES)}")
    angles = torch.zeros(16, 3, dtype=torch.float64)
    for j, abc in NAMED_POSES[name].items():
        angles[j] = torch.tensor(abc, dtype=torch.float64)
    return torch.deg2rad(angles[1:])


def named_pose(name: str, side: str = "right", frames: torch.Tensor | None = None) -> torch.Tensor:
    """``hand_pose [1, 45]`` (axis-angle radians, float64) of a named pose for ``side``.

    Args:
        name: one of :data:`POSE_NAMES`.
        side: ``"right"`` or ``"left"``.
        frames: ``[16, 3, 3]`` joint frames (``HandModel.joint_frames``); default the open
            model's. Raises ``ValueError`` for an unknown name.
    """
    return pose_from_anatomical(named_pose_angles(name)[None], side, frames)
