"""Pose and shape priors as batch losses (hand_mesh_core.losses.priors)."""

from __future__ import annotations

import pytest
import torch

from hand_mesh_core.hand_model import HandModel, mirror_pose, named_pose
from hand_mesh_core.losses.priors import pose_prior, shape_prior


@pytest.fixture(scope="module")
def hand_models():
    return {side: HandModel(side=side) for side in ("left", "right")}


def test_pose_prior_is_zero_for_natural_poses_and_positive_beyond_the_limits(hand_models):
    flat = torch.zeros(2, 45)
    assert pose_prior(hand_models, torch.tensor([True, False]), flat).item() == 0.0
    fist = torch.as_tensor(named_pose("fist"), dtype=torch.float32).reshape(1, 45)
    assert pose_prior(hand_models, torch.tensor([True]), fist).item() == pytest.approx(0.0, abs=1e-6)
    bad = torch.zeros(1, 45)
    bad[0, 3:6] = torch.tensor([0.0, 0.0, 3.0])  # index PIP twisted/bent by ~170 degrees
    assert pose_prior(hand_models, torch.tensor([True]), bad).item() > 0.1


def test_pose_prior_scores_each_hand_with_its_own_side(hand_models):
    g = torch.Generator().manual_seed(0)
    right = torch.randn(3, 45, generator=g) * 0.6
    left = torch.as_tensor(mirror_pose(right), dtype=torch.float32).reshape(3, 45)
    per_right = hand_models["right"].pose_prior(right)
    assert per_right.min() > 0  # random poses break some limits
    # the mirrored pose of a left hand is exactly as (im)plausible as the right original
    loss_left = pose_prior(hand_models, torch.zeros(3, dtype=torch.bool), left)
    assert loss_left.item() == pytest.approx(per_right.mean().item(), rel=1e-4)
    mixed = pose_prior(hand_models, torch.tensor([True, False, True]), torch.stack([right[0], left[1], right[2]]))
    assert mixed.item() == pytest.approx(per_right.mean().item(), rel=1e-4)


def test_pose_prior_gradient_and_weights(hand_models):
    pose = torch.zeros(2, 45)
    pose[:, 3:6] = torch.tensor([0.0, 0.0, 3.0])
    pose.requires_grad_(True)
    loss = pose_prior(hand_models, torch.tensor([True, False]), pose)
    loss.backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    weighted = pose_prior(hand_models, torch.tensor([True, False]), pose.detach(), weight=torch.tensor([1.0, 0.0]))
    assert weighted.item() == pytest.approx(hand_models["right"].pose_prior(pose.detach()[:1]).item(), rel=1e-5)
    assert pose_prior(hand_models, torch.zeros(0, dtype=torch.bool), torch.zeros(0, 45)).item() == 0.0


def test_shape_prior():
    betas = torch.zeros(2, 10)
    assert shape_prior(betas).item() == 0.0
    betas[0, 0] = 2.0
    assert shape_prior(betas).item() == pytest.approx(2.0)  # (4 + 0) / 2
    b = betas.clone().requires_grad_(True)
    shape_prior(b).backward()
    assert b.grad[0, 0] > 0
    with pytest.raises(ValueError):
        shape_prior(torch.zeros(2, 9))
