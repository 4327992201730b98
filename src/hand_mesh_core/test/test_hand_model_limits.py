"""Joint limits, anatomical angles, the pose prior and named poses."""

from __future__ import annotations

import math

import pytest
import torch

from hand_mesh_core.hand_model import (
    JOINT_LIMITS_DEG,
    POSE_NAMES,
    HandModel,
    anatomical_angles,
    mirror_pose,
    named_pose,
    pose_from_anatomical,
    pose_prior_loss,
)


def test_table_covers_the_15_joints_with_ordered_ranges():
    assert sorted(JOINT_LIMITS_DEG) == list(range(1, 16))
    for ranges in JOINT_LIMITS_DEG.values():
        for low, high in ranges:
            assert low < 0.0 < high or (low <= 0.0 < high)
    # the clinical ranges the table cites: finger MCP flexion 90, PIP 100+, DIP 90
    assert JOINT_LIMITS_DEG[1][0][1] >= 90 and JOINT_LIMITS_DEG[2][0][1] >= 100 and JOINT_LIMITS_DEG[3][0][1] >= 90


def test_anatomical_angles_roundtrip_and_mirror_invariance():
    g = torch.Generator().manual_seed(0)
    angles = torch.randn(4, 15, 3, dtype=torch.float64, generator=g) * 0.5
    right = pose_from_anatomical(angles, "right")
    # frames are stored in float32: orthonormal to about 1e-7
    assert (anatomical_angles(right, "right") - angles).abs().max() < 1e-6
    left = pose_from_anatomical(angles, "left")
    assert (left - mirror_pose(right)).abs().max() < 1e-12  # same anatomy, mirrored pose
    assert (anatomical_angles(mirror_pose(right), "left") - angles).abs().max() < 1e-6


def test_prior_is_zero_inside_and_grows_outside_the_limits():
    for name in POSE_NAMES:
        for side in ("right", "left"):
            assert pose_prior_loss(named_pose(name, side), side).item() < 1e-12, (name, side)
    angles = torch.zeros(3, 15, 3, dtype=torch.float64)
    angles[1, 0, 0] = math.radians(JOINT_LIMITS_DEG[1][0][1] + 10)  # index MCP over-flexed by 10 deg
    angles[2, 0, 0] = math.radians(JOINT_LIMITS_DEG[1][0][1] + 20)
    angles[2, 4, 2] = math.radians(40.0)  # middle PIP twisted 40 deg
    loss = pose_prior_loss(pose_from_anatomical(angles))
    assert loss[0].item() == 0.0
    assert loss[1].item() == pytest.approx(math.radians(10) ** 2, rel=1e-5)  # float32 frames
    assert loss[2].item() > loss[1].item() * 4


def test_prior_gradient_pushes_back_inside():
    angles = torch.zeros(1, 15, 3, dtype=torch.float64)
    angles[0, 1, 0] = math.radians(-30)  # index PIP hyper-extended
    pose = pose_from_anatomical(angles).requires_grad_()
    pose_prior_loss(pose).sum().backward()
    step = pose - 0.1 * pose.grad
    assert pose_prior_loss(step).item() < pose_prior_loss(pose).item()
    assert torch.autograd.gradcheck(lambda p: pose_prior_loss(p), (pose.detach().requires_grad_(),))


def test_model_pose_prior_uses_its_side_and_mean_pose():
    right, left = HandModel("right"), HandModel("left")
    pose = named_pose("fist", "right").float()
    bad = pose.clone()
    bad[0, 3:6] *= 3.0  # index PIP far beyond its range
    assert right.pose_prior(pose).item() < 1e-10
    assert right.pose_prior(bad).item() > 0.1
    assert left.pose_prior(mirror_pose(bad)).item() == pytest.approx(right.pose_prior(bad).item(), rel=1e-5)


def test_unknown_pose_and_bad_shapes_raise():
    with pytest.raises(ValueError, match="unknown pose"):
        named_pose("wave")
    with pytest.raises(ValueError):
        pose_prior_loss(torch.zeros(2, 48))
    with pytest.raises(ValueError):
        pose_from_anatomical(torch.zeros(2, 16, 3))
