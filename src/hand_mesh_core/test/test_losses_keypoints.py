"""2D reprojection, bone direction, 3D joint and vertex losses (hand_mesh_core.losses.keypoints)."""

from __future__ import annotations

import pytest
import torch

from hand_mesh_core.hand_model import SKELETON_EDGES
from hand_mesh_core.losses.keypoints import (
    bone_direction_loss,
    joint_3d_loss,
    keypoint_reprojection_loss,
    vertex_3d_loss,
)


def _hand_2d(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 21, 2, generator=g) * 100 + 20


def test_reprojection_is_zero_at_the_labels_and_matches_a_hand_computed_value():
    gt = _hand_2d()
    w = torch.ones(3, 21)
    assert keypoint_reprojection_loss(gt, gt, w).item() == 0.0
    pred = gt.clone()
    pred[0, 5] += torch.tensor([3.0, 4.0])  # 25 px^2 on one point
    assert keypoint_reprojection_loss(pred, gt, w).item() == pytest.approx(25.0 / (2 * 63))
    # an invisible point does not count
    w[0, 5] = 0.0
    assert keypoint_reprojection_loss(pred, gt, w).item() == 0.0
    assert keypoint_reprojection_loss(pred, gt, torch.zeros(3, 21)).item() == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        keypoint_reprojection_loss(pred, gt, -w)
    with pytest.raises(ValueError):
        keypoint_reprojection_loss(pred[:, :20], gt, w)


def test_reprojection_gradient_points_back_to_the_label():
    gt = _hand_2d()
    pred = (gt + 5.0).requires_grad_(True)
    keypoint_reprojection_loss(pred, gt, torch.ones(3, 21)).backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad > 0).all()


def test_bone_direction_ignores_scale_and_translation_but_not_articulation():
    gt = _hand_2d()
    w = torch.ones(3, 21)
    assert bone_direction_loss(gt * 2.5 + 40.0, gt, w).item() == pytest.approx(0.0, abs=1e-10)
    bent = gt.clone()
    bent[:, 8] = bent[:, 7] - (gt[:, 8] - gt[:, 7])  # index tip folded back: direction reversed
    loss = bone_direction_loss(bent, gt, w)
    assert loss.item() == pytest.approx(4.0 / 20, rel=1e-5)  # |d - (-d)|^2 = 4 on 1 of 20 bones
    assert len(SKELETON_EDGES) == 20


def test_bone_direction_gradient_is_finite_even_for_collapsed_bones():
    gt = _hand_2d()
    pred = gt.clone()
    pred[:, 1] = pred[:, 0]  # zero-length predicted bone
    pred = (pred + torch.randn_like(pred) * 0.0).requires_grad_(True)
    loss = bone_direction_loss(pred, gt, torch.ones(3, 21))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # a bone with an unlabelled end is ignored
    w = torch.ones(3, 21)
    w[:, 4] = 0
    moved = gt.clone()
    moved[:, 4] += 30.0
    assert bone_direction_loss(moved, gt, w).item() == pytest.approx(0.0, abs=1e-10)


def test_joint_3d_loss_root_relative_and_absolute():
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 21, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, 0.5])
    shifted = gt + torch.tensor([0.01, -0.02, 0.3])
    assert joint_3d_loss(shifted, gt, torch.ones(2)).item() == pytest.approx(0.0, abs=1e-7)
    absolute = joint_3d_loss(shifted, gt, torch.ones(2), root_index=None).item()
    assert absolute == pytest.approx((0.01 + 0.02 + 0.3) / 3, rel=1e-5)
    # only hands with labels count
    pred = gt.clone()
    pred[1] += 0.05
    assert joint_3d_loss(pred, gt, torch.tensor([1.0, 0.0]), root_index=None).item() == pytest.approx(0.0, abs=1e-8)
    pred = pred.requires_grad_(True)
    joint_3d_loss(pred, gt, torch.tensor([0.0, 1.0]), root_index=None).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[1].abs().sum() > 0 and pred.grad[0].abs().sum() == 0


def test_vertex_3d_loss_with_and_without_roots():
    g = torch.Generator().manual_seed(2)
    gt = torch.rand(2, 50, 3, generator=g)
    t = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, -0.1]])
    pred = gt + t[:, None]
    assert vertex_3d_loss(pred, gt, torch.ones(2)).item() == pytest.approx((0.6 + 0.1) / 6, rel=1e-5)
    assert vertex_3d_loss(pred, gt, torch.ones(2), pred_root=t, target_root=torch.zeros(2, 3)).item() == pytest.approx(
        0.0, abs=1e-7)
    with pytest.raises(ValueError, match="both"):
        vertex_3d_loss(pred, gt, torch.ones(2), pred_root=t)
