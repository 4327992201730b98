"""Anatomical joint limits and the pose and shape priors used by fitting and training.

Each of the 15 finger joints has an anatomical frame (``HandModel.joint_frames``, built by
the converter from the WebXR joint orientations): flexion axis, abduction axis (the
joint's dorsal direction) and twist axis (along the bone). A joint's axis-angle vector
``r`` (MANO convention, canonical axes) expressed in that frame, ``F^T r``, gives three
angles: flexion (positive bends towards the palm), abduction (positive towards the thumb
side for fingers) and twist. For one-axis rotations these are exact; for combined ones they
are the usual small-angle approximation of a swing-twist decomposition, which is what a
limit loss needs (smooth, cheap, differentiable). Frames are mirrored for the left hand,
so a mirrored pose has the same angles.

Ranges (degrees, relative to the model's zero pose, the nearly flat template). Flexion /
extension of the hinge joints follow the normal active ranges of motion of the American
Academy of Orthopaedic Surgeons (AAOS, *Joint Motion: Method of Measuring and Recording*,
1965), as tabulated in Norkin & White, *Measurement of Joint Motion: A Guide to Goniometry*,
5th ed., 2016: finger MCP flexion 90 / hyperextension 45 (active about 30), PIP flexion 100,
DIP flexion 90 / extension 10, MCP abduction about 20; thumb MCP flexion 50, IP flexion 80
/ hyperextension 20, CMC flexion 15, extension 20, abduction 70. Abduction and twist of the
hinge joints (PIP, DIP, IP) are not active motions; their small ranges are tolerances for
passive laxity and for the approximation above. The thumb CMC ranges are widened
because the template's thumb rests part-abducted and the model's zero is not the
goniometric zero.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

#: Per joint 1..15 (MANO order): (flexion, abduction, twist) as (low, high) in degrees.
JOINT_LIMITS_DEG: dict[int, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {}
_FINGER = {  # MCP, PIP, DIP of index, middle, ring, pinky
    0: ((-30.0, 90.0), (-25.0, 25.0), (-15.0, 15.0)),
    1: ((-5.0, 110.0), (-10.0, 10.0), (-10.0, 10.0)),
    2: ((-15.0, 90.0), (-10.0, 10.0), (-10.0, 10.0)),
}
_THUMB = {  # CMC, MCP, IP
    0: ((-35.0, 55.0), (-45.0, 45.0), (-45.0, 45.0)),
    1: ((-15.0, 65.0), (-15.0, 15.0), (-20.0, 20.0)),
    2: ((-25.0, 90.0), (-10.0, 10.0), (-10.0, 10.0)),
}
for _base in (1, 4, 7, 10):
    for _k in range(3):
        JOINT_LIMITS_DEG[_base + _k] = _FINGER[_k]
for _k in range(3):
    JOINT_LIMITS_DEG[13 + _k] = _THUMB[_k]

#: ``[15, 3, 2]`` radians: (flexion, abduction, twist) x (low, high) of joints 1..15.
LIMITS_RAD = np.radians(np.array([JOINT_LIMITS_DEG[j] for j in range(1, 16)]))


@functools.lru_cache(maxsize=2)
def _default_frames(side: str) -> np.ndarray:
    from hand_mesh_core.hand_model.open_model import load_open_model

    return load_open_model(side).joint_frames


def default_frames(side: str = "right", like: torch.Tensor | None = None) -> torch.Tensor:
    """The open model's anatomical frames ``[16, 3, 3]`` of ``side`` (dtype/device of ``like``)."""
    frames = torch.as_tensor(_default_frames(side))
    if like is not None:
        frames = frames.to(dtype=like.dtype, device=like.device)
    return frames


def _frames(frames: torch.Tensor | None, side: str, like: torch.Tensor) -> torch.Tensor:
    if frames is None:
        return default_frames(side, like)
    return torch.as_tensor(frames).to(dtype=like.dtype, device=like.device)


def anatomical_angles(hand_pose: torch.Tensor, side: str = "right",
                      frames: torch.Tensor | None = None) -> torch.Tensor:
    """Joint angles ``[B, 15, 3]`` (flexion, abduction, twist; radians) of ``hand_pose [B, 45]``.

    Args:
        hand_pose: axis-angle per joint 1..15 (the full pose: mean already added).
        side: ``"right"`` or ``"left"``; selects the default frames.
        frames: ``[16, 3, 3]`` anatomical frames (columns flexion, abduction, twist axes);
            default: the open model's of ``side``.
    """
    if hand_pose.shape[-1] != 45:
        raise ValueError(f"hand_pose must have 45 values per hand, got shape {tuple(hand_pose.shape)}")
    f = _frames(frames, side, hand_pose)[1:]
    return torch.einsum("jck,bjc->bjk", f, hand_pose.reshape(-1, 15, 3))


def pose_from_anatomical(angles: torch.Tensor, side: str = "right",
                         frames: torch.Tensor | None = None) -> torch.Tensor:
    """Inverse of :func:`anatomical_angles`: ``[B, 15, 3]`` radians -> ``hand_pose [B, 45]``."""
    if angles.shape[-2:] != (15, 3):
        raise ValueError(f"angles must have shape [B, 15, 3], got {tuple(angles.shape)}")
    f = _frames(frames, side, angles)[1:]
    return torch.einsum("jck,bjk->bjc", f, angles).reshape(-1, 45)


def pose_prior_loss(hand_pose: torch.Tensor, side: str = "right",
                    frames: torch.Tensor | None = None) -> torch.Tensor:
    """Joint-limit hinge loss ``[B]`` (radians squared) of ``hand_pose [B, 45]``.

    ``sum_j,k relu(low - a_jk)^2 + relu(a_jk - high)^2`` over the anatomical angles ``a``
    (:func:`anatomical_angles`) and the ranges of :data:`JOINT_LIMITS_DEG`. Zero inside
    the limits, smooth (C1), differentiable everywhere. Same arguments as
    :func:`anatomical_angles`.
    """
    a = anatomical_angles(hand_pose, side, frames)
    lim = torch.as_tensor(LIMITS_RAD, dtype=a.dtype, device=a.device)
    below = torch.relu(lim[..., 0] - a)
    above = torch.relu(a - lim[..., 1])
    return (below.square() + above.square()).sum(dim=(1, 2))


def shape_prior_loss(betas: torch.Tensor) -> torch.Tensor:
    """Shape prior ``[B]``: ``sum_k betas_k^2`` (twice the negative log-likelihood of
    independent unit Gaussians, up to a constant: MANO's betas and the open model's
    coefficients are both in units of one standard deviation)."""
    if betas.ndim != 2:
        raise ValueError(f"betas must have shape [B, S], got {tuple(betas.shape)}")
    return betas.square().sum(dim=1)
