"""Hand-model fitting of the two-stage pipeline on planted synthetic hands.

The "landmarks" are made from the hand model itself: a known pose, shape and position,
projected through a known (non-default) K; the world landmarks are the model's keypoints
centred and seen as MediaPipe would report them (without the perspective rotation of the
ray through the hand). Noise is added to both, as MediaPipe's output is not exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_mesh_core.camera import project_np
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.two_stage.fitting import NUM_PARAMS, PARAM_SLICES, FitSettings, HandFitter
from hand_mesh_core.two_stage.initialisation import inverse_kinematics, kabsch, ray_rotation, solve_translation

K = np.array([[700.0, 0.0, 300.0], [0.0, 720.0, 260.0], [0.0, 0.0, 1.0]])  # 640x480, off-centre


@pytest.fixture(scope="module")
def models():
    return {side: HandModel(side=side).eval() for side in ("left", "right")}


@pytest.fixture(scope="module")
def fitter(models):
    return HandFitter(models)


def _natural_pose(rng: np.random.Generator) -> np.ndarray:
    """[45] a plausible hand pose: fingers flexed about their bending axis, small spread."""
    pose = np.zeros((15, 3))
    pose[:, 2] = rng.uniform(-0.1, 0.9, size=15)  # MANO right hand: flexion about z
    pose[:, 1] = rng.uniform(-0.15, 0.15, size=15)  # spread
    return pose.reshape(45)


def _plant(models, sides, depths, rng, noise_px=0.0, noise_m=0.0):
    """Planted hands -> (params [N,61], keypoints_3d, clean 2D, noisy 2D, noisy world)."""
    N = len(sides)
    params = np.zeros((N, NUM_PARAMS))
    kp = np.zeros((N, 21, 3))
    for n, side in enumerate(sides):
        pose = _natural_pose(rng)
        if side == "left":
            pose = (pose.reshape(15, 3) * [1, -1, -1]).reshape(45)  # mirror of a right pose
        params[n, PARAM_SLICES["global_orient"]] = rng.normal(scale=0.6, size=3)
        params[n, PARAM_SLICES["hand_pose"]] = pose
        params[n, PARAM_SLICES["betas"]] = rng.normal(scale=0.5, size=10)
        params[n, PARAM_SLICES["transl"]] = [rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.08), depths[n]]
        with torch.no_grad():
            out = models[side](**{k: torch.tensor(params[n:n + 1, s], dtype=torch.float32)
                                  for k, s in PARAM_SLICES.items()})
        kp[n] = out.keypoints[0].double().numpy()
    uv = project_np(kp, K)
    world = np.stack([(kp[n] - kp[n].mean(0)) @ ray_rotation(K, uv[n].mean(0)) for n in range(N)])
    noisy_uv = uv + rng.normal(scale=noise_px, size=uv.shape)
    return params, kp, uv, noisy_uv, world + rng.normal(scale=noise_m, size=world.shape)


def test_closed_form_pieces_are_exact_on_exact_data(models):
    rng = np.random.default_rng(0)
    R = ray_rotation(K, np.array([500.0, 100.0]))
    ray = np.linalg.solve(K, [500.0, 100.0, 1.0])
    np.testing.assert_allclose(R @ [0, 0, 1], ray / np.linalg.norm(ray), atol=1e-12)
    points = rng.normal(scale=0.05, size=(21, 3))
    t = np.array([0.1, -0.05, 0.6])
    np.testing.assert_allclose(solve_translation(points, project_np(points + t, K), K), t, atol=1e-9)
    R_true = ray_rotation(K, np.array([10.0, 20.0])) @ ray_rotation(K, np.array([600.0, 30.0])).T
    np.testing.assert_allclose(kabsch(points, points @ R_true.T + t), R_true, atol=1e-9)
    # inverse kinematics reproduces the bone directions of a model-generated skeleton
    _, kp, *_ = _plant(models, ["right"], [0.5], rng)
    with torch.no_grad():
        rest = models["right"]().keypoints[0].double().numpy()
        go, hp = inverse_kinematics(rest, kp)
        again = models["right"](global_orient=torch.tensor(go, dtype=torch.float32),
                                hand_pose=torch.tensor(hp, dtype=torch.float32)).keypoints[0].numpy()
    for a, b in [(0 if k % 4 == 1 else k - 1, k) for k in range(1, 21)]:
        d_true = (kp[0, b] - kp[0, a]) / np.linalg.norm(kp[0, b] - kp[0, a])
        d_ik = (again[b] - again[a]) / np.linalg.norm(again[b] - again[a])
        assert d_true @ d_ik > np.cos(np.radians(3)), (a, b)


@pytest.mark.parametrize("depth", [0.35, 0.6, 1.0])
def test_fit_reprojects_within_2px_and_recovers_depth_within_5_percent(models, fitter, depth):
    rng = np.random.default_rng(int(depth * 100))
    sides = ["right", "left"]
    params, kp, uv_clean, uv, world = _plant(models, sides, [depth, depth * 1.1], rng,
                                             noise_px=0.7, noise_m=0.004)
    fit = fitter.fit(sides, uv, world, K)
    reproj = np.linalg.norm(fit.keypoints_2d - uv_clean, axis=-1)
    assert reproj.mean(axis=1).max() < 2.0, reproj.mean(axis=1)
    wrist_depth = fit.keypoints_3d[:, 0, 2]
    np.testing.assert_allclose(wrist_depth, kp[:, 0, 2], rtol=0.05)
    assert fit.converged.all()
    assert all(v.shape == (models[s].num_vertices, 3) for v, s in zip(fit.vertices, sides))
    # the mesh and the keypoints come from the same solution
    np.testing.assert_allclose(fit.part("transl"), params[:, PARAM_SLICES["transl"]], atol=0.1)


def test_hands_in_one_batch_are_independent(fitter, models):
    rng = np.random.default_rng(3)
    sides = ["right", "left", "right"]
    _, _, _, uv, world = _plant(models, sides, [0.5, 0.7, 0.9], rng, noise_px=0.5, noise_m=0.003)
    together = fitter.fit(sides, uv, world, K)
    alone = fitter.fit(sides[1:2], uv[1:2], world[1:2], K)
    np.testing.assert_allclose(together.keypoints_3d[1], alone.keypoints_3d[0], atol=2e-4)


def test_warm_start_from_the_solution_stops_quickly(fitter, models):
    rng = np.random.default_rng(4)
    _, _, _, uv, world = _plant(models, ["right"], [0.6], rng, noise_px=0.5, noise_m=0.003)
    cold = fitter.fit(["right"], uv, world, K)
    warm = fitter.fit(["right"], uv, world, K, init=[cold.params[0]])
    assert warm.iterations[0] <= 3
    np.testing.assert_allclose(warm.keypoints_3d, cold.keypoints_3d, atol=1e-3)


def test_fit_rejects_bad_input_and_handles_no_hands(fitter):
    empty = fitter.fit([], np.zeros((0, 21, 2)), np.zeros((0, 21, 3)), K)
    assert empty.params.shape == (0, NUM_PARAMS) and empty.vertices == []
    with pytest.raises(ValueError):
        fitter.fit(["right"], np.zeros((2, 21, 2)), np.zeros((1, 21, 3)), K)
    with pytest.raises(ValueError, match="side"):
        fitter.fit(["middle"], np.zeros((1, 21, 2)), np.zeros((1, 21, 3)), K)
    with pytest.raises(ValueError):
        fitter.fit(["right"], np.zeros((1, 21, 2)), np.zeros((1, 21, 3)), np.eye(2))
    with pytest.raises(ValueError):
        FitSettings(sigma_2d=0.0)


def test_solver_recovers_from_a_poor_start(fitter, models):
    rng = np.random.default_rng(5)
    params, kp, uv_clean, uv, world = _plant(models, ["right", "left"], [0.5, 0.8], rng, noise_px=0.5, noise_m=0.003)
    start = params.copy()
    start[:, PARAM_SLICES["hand_pose"]] += rng.normal(scale=0.25, size=(2, 45))
    start[:, PARAM_SLICES["global_orient"]] += rng.normal(scale=0.2, size=(2, 3))
    start[:, PARAM_SLICES["transl"]] += [0.03, -0.02, 0.08]
    fit = fitter.fit(["right", "left"], uv, world, K, init=list(start))
    assert fit.iterations.max() > 1
    assert np.linalg.norm(fit.keypoints_2d - uv_clean, axis=-1).mean() < 2.0
    np.testing.assert_allclose(fit.keypoints_3d[:, 0, 2], kp[:, 0, 2], rtol=0.05)


def test_solver_normal_equations_match_central_differences(fitter, models):
    """The normal equations the solver forms from exact Jacobians (model, projection,
    priors) against ``J^T J`` and ``J^T r`` with ``J`` from central differences of its
    residuals, for a right and a left hand in one batch (one model call per side)."""
    rng = np.random.default_rng(11)
    params, _, uv, _, world = _plant(models, ["right", "left"], [0.45, 0.7], rng)
    x0 = params + rng.normal(scale=0.05, size=params.shape)  # away from the solution: nonzero residuals
    x0[0, PARAM_SLICES["hand_pose"]][:9] = [1.8, 0.0, 0.0, 0.0, 0.0, -0.9, 0.0, 0.0, 0.0]  # beyond the limits
    cam_world = np.stack([fitter.camera_world(uv[n], world[n], K) for n in range(2)])
    obs = fitter._observations(["right", "left"], uv, cam_world, K, x0)
    ev = fitter._evaluate(x0, obs)
    assert (ev.residuals[0, 105:150] > 0).sum() >= 2  # joint-limit residuals
    A, g = fitter._normal_equations(ev, obs)
    h = 1e-6
    J = np.zeros((2, ev.residuals.shape[1], NUM_PARAMS))
    for k in range(NUM_PARAMS):
        step = np.zeros_like(x0)
        step[:, k] = h
        J[:, :, k] = (fitter._evaluate(x0 + step, obs).residuals - fitter._evaluate(x0 - step, obs).residuals) / (2 * h)
    # (no joint-limit kink lies within +-h of this seeded start)
    assert np.allclose(ev.cost, 0.5 * (ev.residuals ** 2).sum(-1))
    # compared after scaling every parameter to unit curvature (entries span many decades)
    A_num = J.transpose(0, 2, 1) @ J
    g_num = (J.transpose(0, 2, 1) @ ev.residuals[..., None])[..., 0]
    scale = 1.0 / np.sqrt(np.diagonal(A_num, axis1=1, axis2=2))
    assert np.abs((A - A_num) * scale[:, :, None] * scale[:, None, :]).max() < 1e-6
    r_norm = np.linalg.norm(ev.residuals, axis=1, keepdims=True)
    assert np.abs((g - g_num) * scale / r_norm).max() < 1e-6
