"""Hand-model priors: joint-limit pose prior and shape regulariser, as batch losses.

Source: Ren, Zhu, Zhang (CVIU 2023) and their code — a per-joint angle-limit hinge on the
pose plus ``0.1 |betas|^2``, weighted x1000 together. The per-hand terms themselves belong
to the hand model (``HandModel.pose_prior``, which applies
:func:`hand_mesh_core.hand_model.pose_prior_loss` with that model's joint frames and side,
and :func:`hand_mesh_core.hand_model.shape_prior_loss`); here they become weighted means
over the hands of a batch, the form the objective sums (its config weights the two
separately: ``pose_prior`` x1000, ``shape_prior`` x100).
"""

from __future__ import annotations

import torch

from collections.abc import Mapping

from torch import nn

from hand_mesh_core.hand_model import shape_prior_loss


def _weighted_mean(per_hand: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_hand.mean() if per_hand.numel() else per_hand.sum()
    weight = weight.to(per_hand.dtype)
    if weight.shape != per_hand.shape:
        raise ValueError(f"weight must be [{per_hand.shape[0]}], got {tuple(weight.shape)}")
    return (weight * per_hand).sum() / weight.sum().clamp(min=1e-8)


def pose_prior(
    hand_models: Mapping[str, nn.Module],
    is_right: torch.Tensor,
    hand_pose: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean joint-limit hinge of ``hand_pose`` ``[N, 45]`` (axis-angle, radians, MANO order).

    Each hand is scored by the model of its side (``is_right`` bool ``[N]``; joint limits
    of a left hand are the mirror of a right hand's), one batched call per side.
    ``weight`` ``[N]`` optional per-hand weights. Returns a scalar (0 for ``N == 0`` or when
    every joint is within its limits). Raises ``ValueError`` for a bad shape.
    """
    if hand_pose.ndim != 2 or hand_pose.shape[1] != 45 or is_right.shape != hand_pose.shape[:1]:
        raise ValueError(f"hand_pose must be [N, 45] with is_right [N], got {tuple(hand_pose.shape)}, "
                         f"{tuple(is_right.shape)}")
    per_hand = hand_pose.new_zeros(hand_pose.shape[0])
    for side, select in (("left", ~is_right), ("right", is_right)):
        idx = select.nonzero()[:, 0]
        if idx.numel():
            per_hand = per_hand.index_put((idx,), hand_models[side].pose_prior(hand_pose[idx]).to(per_hand.dtype))
    return _weighted_mean(per_hand, weight)


def shape_prior(betas: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean shape regulariser of ``betas`` ``[N, 10]`` (0 at the mean shape).

    ``weight`` ``[N]`` optional per-hand weights. Returns a scalar. Raises ``ValueError``
    for a bad shape.
    """
    if betas.ndim != 2 or betas.shape[1] != 10:
        raise ValueError(f"betas must be [N, 10], got {tuple(betas.shape)}")
    return _weighted_mean(shape_prior_loss(betas), weight)
