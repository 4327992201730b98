"""HandModel.keypoints_with_jacobian: the closed-form Jacobian equals autograd's, for the
open model (both sides, flat and relaxed mean pose), for a model with MANO-style pose
correctives and spread skinning weights, with a pose PCA, at zero and tiny angles, and in
float32; and the chain's new fast paths (Rodrigues, forward kinematics) match their
definitions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hand_mesh_core.hand_model import MANO_PARENTS, HandModel
from hand_mesh_core.hand_model.lbs import (
    axis_angle_to_matrix,
    forward_kinematics,
    rotation_right_jacobian,
    skew,
)
from hand_mesh_core.hand_model.model import load_model_data


def _params(model: HandModel, batch: int, seed: int, scale: float = 0.6) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dt = model.v_template.dtype
    betas = torch.randn(batch, model.num_betas, generator=g, dtype=dt)
    orient = 2.0 * torch.randn(batch, 3, generator=g, dtype=dt)
    pose = scale * torch.randn(batch, model.pose_dim, generator=g, dtype=dt)
    transl = torch.randn(batch, 3, generator=g, dtype=dt)
    if model.pose_dim == 45 and batch >= 2:
        pose[0, :6] = 0.0  # exactly zero rotations (series branches)
        pose[1, 3:6] = 1e-5  # tiny rotation
        orient[1] = 1e-4
    return [betas, orient, pose, transl]


def _autograd_jacobian(model: HandModel, betas, orient, pose, transl) -> torch.Tensor:
    """``[B, 21, 3, P]`` by autograd, columns [global_orient, hand_pose, betas, transl]."""
    sizes = [3, pose.shape[1], betas.shape[1], 3]

    def keypoints(x: torch.Tensor) -> torch.Tensor:
        o, p, b, t = torch.split(x, sizes, dim=1)
        return model(betas=b, global_orient=o, hand_pose=p, transl=t, compute_vertices=False).keypoints

    # hands are independent: the Jacobian of the batch sum holds every hand's own block
    x = torch.cat([orient, pose, betas, transl], dim=1)
    full = torch.autograd.functional.jacobian(lambda x: keypoints(x).sum(0), x, vectorize=True)  # [21, 3, B, P]
    return full.permute(2, 0, 1, 3)


def _check(model: HandModel, batch: int = 3, seed: int = 0, scale: float = 0.6, atol: float = 1e-11) -> None:
    betas, orient, pose, transl = _params(model, batch, seed, scale)
    keypoints, jacobian = model.keypoints_with_jacobian(betas, orient, pose, transl)
    reference = model(betas=betas, global_orient=orient, hand_pose=pose, transl=transl, compute_vertices=False)
    assert torch.equal(keypoints, reference.keypoints)
    assert jacobian.shape == (batch, 21, 3, 3 + model.pose_dim + model.num_betas + 3)
    expected = _autograd_jacobian(model, betas, orient, pose, transl)
    assert torch.isfinite(jacobian).all()
    assert (jacobian - expected).abs().max().item() < atol


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("flat_hand_mean", [True, False])
def test_open_model_jacobian_matches_autograd(side, flat_hand_mean):
    _check(HandModel(side, flat_hand_mean=flat_hand_mean, dtype=torch.float64))


def test_large_rotations_and_single_hand():
    model = HandModel("right", dtype=torch.float64)
    _check(model, batch=1, seed=3, scale=2.0)


@pytest.fixture(scope="module")
def corrective_data():
    """The open model's arrays with MANO-style pose correctives, skinning weights spread
    over all joints (so every fingertip is carried by several joints), a mean pose and a
    pose PCA basis."""
    data = load_model_data("right")
    rng = np.random.default_rng(5)
    v = data.num_vertices
    weights = 0.5 * data.weights + 0.5 * rng.dirichlet(np.ones(16), size=v)
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0][:12]
    return dataclasses.replace(
        data, weights=weights, posedirs=0.02 * rng.normal(size=(135, 3 * v)),
        hands_components=components, hands_mean=0.1 * rng.normal(size=45),
    )


def test_pose_correctives_and_spread_weights(corrective_data):
    model = HandModel.from_data(corrective_data, flat_hand_mean=False, dtype=torch.float64)
    assert model.tip_posedirs is not None and (model.tip_weights > 0).sum() > 5 * 8
    _check(model)


def test_pose_pca(corrective_data):
    model = HandModel.from_data(corrective_data, use_pca=True, num_pca_comps=12, dtype=torch.float64)
    _check(model, scale=1.0)


def test_float32_agrees_with_float64():
    m64 = HandModel("right", dtype=torch.float64)
    m32 = HandModel("right", dtype=torch.float32)
    params = _params(m64, 4, seed=7)
    _, j64 = m64.keypoints_with_jacobian(*params)
    kp32, j32 = m32.keypoints_with_jacobian(*[p.float() for p in params])
    assert kp32.dtype == j32.dtype == torch.float32
    assert (j32.double() - j64).abs().max().item() < 1e-5


def test_bad_inputs_raise():
    model = HandModel("right", dtype=torch.float64)
    with pytest.raises(ValueError, match="hand_pose must have shape"):
        model.keypoints_with_jacobian(hand_pose=torch.zeros(1, 44, dtype=torch.float64))
    with pytest.raises(ValueError, match="batch size"):
        model.keypoints_with_jacobian(betas=torch.zeros(2, 10), transl=torch.zeros(3, 3))


def test_rodrigues_matches_the_matrix_exponential_and_its_right_jacobian():
    g = torch.Generator().manual_seed(2)
    r = torch.randn(200, 3, dtype=torch.float64, generator=g)
    r = r / r.norm(dim=-1, keepdim=True) * torch.rand(200, 1, dtype=torch.float64, generator=g) * 3.0
    r[:3] = torch.tensor([[0.0, 0.0, 0.0], [1e-5, 0.0, 0.0], [0.0, 3e-3, 4e-3]], dtype=torch.float64)
    rot = axis_angle_to_matrix(r)
    assert (rot - torch.linalg.matrix_exp(skew(r))).abs().max().item() < 1e-14
    # d exp(r) / d r_m = exp(r) skew(J_r[:, m])
    right = rotation_right_jacobian(r)
    numeric = torch.autograd.functional.jacobian(lambda r: axis_angle_to_matrix(r).sum(0), r, vectorize=True)
    analytic = rot[:, None] @ skew(right.transpose(-1, -2))  # [200, 3 (m), 3, 3]
    assert (analytic.permute(2, 3, 0, 1) - numeric).abs().max().item() < 1e-12  # numeric: [3, 3, 200, 3 (m)]


def test_forward_kinematics_matches_the_joint_by_joint_chain():
    g = torch.Generator().manual_seed(4)
    rot = axis_angle_to_matrix(torch.randn(5, 16, 3, dtype=torch.float64, generator=g))
    joints = torch.randn(5, 16, 3, dtype=torch.float64, generator=g)
    a_rot, a_trans, posed = forward_kinematics(rot, joints)
    for j in range(16):
        p = MANO_PARENTS[j]
        g_rot = rot[:, j] if p < 0 else a_rot[:, p] @ rot[:, j]
        g_pos = joints[:, j] if p < 0 else (a_rot[:, p] @ (joints[:, j] - joints[:, p])[..., None])[..., 0] + posed[:, p]
        assert torch.allclose(a_rot[:, j], g_rot, atol=1e-13)
        assert torch.allclose(posed[:, j], g_pos, atol=1e-13)
        assert torch.allclose(a_trans[:, j], g_pos - (g_rot @ joints[:, j, :, None])[..., 0], atol=1e-13)


def test_constants_first_built_in_inference_mode_still_serve_autograd():
    """The per-dtype constant caches are shared by every caller: the fit builds them in
    inference mode, training then needs them in autograd graphs."""
    from hand_mesh_core.hand_model import jacobian, lbs

    model = HandModel("right", dtype=torch.float64)
    params = _params(model, 2, seed=1)
    lbs._CONSTANTS.clear()
    jacobian._TREE.clear()
    with torch.inference_mode():
        model.keypoints_with_jacobian(*params)
    leaves = [p.clone().requires_grad_() for p in params]
    keypoints, jac = model.keypoints_with_jacobian(*leaves)
    (keypoints.square().sum() + jac.square().sum()).backward()
    assert all(leaf.grad is not None and torch.isfinite(leaf.grad).all() for leaf in leaves)
