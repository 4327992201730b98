"""Random but plausible hand poses and shapes for synthetic data.

Poses are drawn as anatomical angles (flexion, abduction, twist per joint; see
:mod:`hand_mesh_core.hand_model.joint_limits`) and clipped to the model's joint limits
:data:`~hand_mesh_core.hand_model.joint_limits.LIMITS_RAD`, then converted to MANO
``hand_pose`` axis-angle with the model's joint frames
(:func:`~hand_mesh_core.hand_model.pose_from_anatomical`). Because that conversion is an
orthonormal change of axes, the sampled poses have zero joint-limit loss by construction.

The distribution couples the joints the way hands move (Santello et al., "Postural hand
synergies for tool use", J. Neurosci. 1998: a few synergies explain most grasp postures):

* a grip level shared by the four fingers, each finger's curl scattered around it (and
  now and then independent fingers); within a finger, MCP, PIP and DIP flex together;
* finger spread (MCP abduction) shrinking as the fingers curl;
* the thumb's CMC anywhere in its range and its MCP/IP flexing together;
* with probability ``named_probability`` a named gesture (fist, point, pinch, thumbs-up,
  spread, relaxed; :mod:`hand_mesh_core.hand_model.poses`) with a few degrees of noise.
"""

from __future__ import annotations

import numpy as np
import torch

from hand_mesh_core.hand_model import pose_from_anatomical
from hand_mesh_core.hand_model.joint_limits import LIMITS_RAD
from hand_mesh_core.hand_model.poses import POSE_NAMES, named_pose_angles

#: First MANO joint (MCP) of each long finger; the thumb is 13 (CMC), 14 (MCP), 15 (IP).
FINGER_BASES = (1, 4, 7, 10)
THUMB_BASE = 13


def sample_anatomical_angles(rng: np.random.Generator, named_probability: float = 0.2) -> np.ndarray:
    """Anatomical angles ``[15, 3]`` (radians; joints 1..15; flexion, abduction, twist)
    inside :data:`LIMITS_RAD`."""
    lo, hi = LIMITS_RAD[..., 0], LIMITS_RAD[..., 1]  # [15, 3]
    if rng.uniform() < named_probability:
        names = [n for n in POSE_NAMES if n != "flat"]
        a = named_pose_angles(names[rng.integers(len(names))]).numpy()
        a = a + rng.normal(0.0, np.radians(6.0), a.shape)
        return np.clip(a, lo, hi)
    a = np.zeros((15, 3))
    grip = rng.uniform() ** 0.8
    independent = rng.uniform() < 0.3
    for base in FINGER_BASES:
        curl = rng.uniform() if independent else float(np.clip(grip + rng.normal(0.0, 0.15), 0.0, 1.0))
        for k in range(3):
            j = base - 1 + k  # row of joint base + k
            flex_lo, flex_hi = lo[j, 0] * 0.4, hi[j, 0]
            a[j, 0] = flex_lo + curl * (flex_hi - flex_lo) + rng.normal(0.0, np.radians(6.0))
            a[j, 2] = rng.normal(0.0, np.radians(3.0))
            a[j, 1] = rng.normal(0.0, np.radians(2.0))
        j = base - 1
        a[j, 1] = rng.uniform(lo[j, 1], hi[j, 1]) * (1.0 - 0.7 * curl)  # MCP spread
    t = THUMB_BASE - 1
    a[t] = rng.uniform(lo[t], hi[t]) * np.array([1.0, 0.8, 0.5])
    thumb_curl = rng.uniform()
    for k in (1, 2):
        a[t + k, 0] = lo[t + k, 0] * 0.3 + thumb_curl * (hi[t + k, 0] - lo[t + k, 0] * 0.3) + rng.normal(0.0, np.radians(6.0))
        a[t + k, 1:] = rng.normal(0.0, np.radians(3.0), 2)
    return np.clip(a, lo, hi)


def sample_hand_pose(rng: np.random.Generator, side: str, frames: torch.Tensor, named_probability: float = 0.2) -> np.ndarray:
    """MANO ``hand_pose`` ``[45]`` (axis-angle radians, float64) of ``side`` within the
    joint limits, for a model whose anatomical frames are ``frames [16, 3, 3]``
    (``HandModel.joint_frames``)."""
    angles = torch.as_tensor(sample_anatomical_angles(rng, named_probability))[None]
    return pose_from_anatomical(angles, side, frames.to(torch.float64)).numpy()[0]


def sample_betas(rng: np.random.Generator, num_betas: int, scale: float = 0.8, limit: float = 2.0) -> np.ndarray:
    """Shape coefficients ``[num_betas]``: independent ``N(0, scale^2)`` clipped to
    ``+-limit`` (betas are in units of one standard deviation, see ``shape_prior_loss``)."""
    return np.clip(rng.normal(0.0, scale, num_betas), -limit, limit)


__all__ = ["sample_anatomical_angles", "sample_hand_pose", "sample_betas"]
