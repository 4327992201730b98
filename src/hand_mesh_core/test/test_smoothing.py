"""One-Euro filter (values worked out by hand from Casiez et al. 2012) and the hand smoother:
jitter of a still planted hand, lag on a moving one, consistency of the rebuilt hands, and
stream mode of the single_stage backend (track ids, smoothing) through create_predictor."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hand_mesh_core import create_predictor
from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.results import HandResult
from hand_mesh_core.smoothing import HandSmoother, OneEuroFilter, SmoothingSettings, smoothing_factor

FPS = 30.0
WIDTH, HEIGHT = 640, 480
K = intrinsics_from_fov(WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(side=s) for s in ("left", "right")}


def test_smoothing_factor_is_the_papers():
    # alpha = 1 / (1 + tau / dt), tau = 1 / (2 pi fc): fc = 1 Hz, dt = 0.1 s -> 0.6283 / 1.6283
    assert smoothing_factor(1.0, 0.1) == pytest.approx(0.3858695, abs=1e-7)
    assert smoothing_factor(np.array([1.0, 1e6]), 0.1)[1] == pytest.approx(1.0, abs=1e-5)


def test_step_response_with_a_fixed_cutoff():
    # beta = 0: a first-order low-pass with alpha = 0.385870 per 0.1 s step, so the step
    # 0 -> 1 gives 1 - (1 - alpha)^k: 0.385870, 0.622844, 0.768377
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    assert f(0.0, 0.0) == 0.0  # the first sample passes through
    out = [float(f(1.0, 0.1 * k)) for k in (1, 2, 3)]
    np.testing.assert_allclose(out, [0.385870, 0.622844, 0.768377], atol=1e-6)
    assert f.cutoff == pytest.approx(1.0)


def test_step_response_with_the_speed_term():
    # beta = 1 Hz per unit/s, step 0 -> 1 at 0.1 s steps, d_cutoff = 1 Hz (alpha_d = 0.385870):
    # step 1: dx = (1 - 0) / 0.1 = 10, dxhat = 0.385870 * 10 = 3.858695, fc = 4.858695 Hz,
    #         alpha = 3.052794 / 4.052794 = 0.753258 -> xhat = 0.753258
    # step 2: dx = (1 - 0.753258) / 0.1 = 2.467425, dxhat = 0.385870 * 2.467425
    #         + 0.614130 * 3.858695 = 3.321846, fc = 4.321846 Hz -> xhat = 0.933591
    f = OneEuroFilter(min_cutoff=1.0, beta=1.0, d_cutoff=1.0)
    f(0.0, 0.0)
    assert float(f(1.0, 0.1)) == pytest.approx(0.753258, abs=1e-6)
    assert float(f.speed) == pytest.approx(3.858695, abs=1e-6) and float(f.cutoff) == pytest.approx(4.858695, abs=1e-6)
    assert float(f(1.0, 0.2)) == pytest.approx(0.933591, abs=1e-6)
    assert float(f.cutoff) == pytest.approx(4.321846, abs=1e-6)


def _ramp_lag(speed: float, beta: float) -> tuple[float, float]:
    """Lag (in seconds of the ramp) and cutoff after 3 s of a ramp x = speed * t at 30 Hz."""
    f = OneEuroFilter(min_cutoff=1.0, beta=beta, d_cutoff=1.0)
    for k in range(91):
        t = k / FPS
        out = float(f(speed * t, t))
    return (speed * t - out) / speed, float(f.cutoff)


def test_cutoff_rises_with_speed_and_cuts_the_lag():
    slow_lag, slow_cut = _ramp_lag(0.1, beta=20.0)
    fast_lag, fast_cut = _ramp_lag(1.0, beta=20.0)
    assert fast_cut > slow_cut + 10.0  # fc = min_cutoff + beta |speed|: about 20 Hz more at 1 unit/s
    assert fast_lag < 0.3 * slow_lag
    # without the speed term the filter is linear: the lag in seconds does not depend on speed
    assert _ramp_lag(0.1, beta=0.0)[0] == pytest.approx(_ramp_lag(1.0, beta=0.0)[0], rel=1e-9)
    assert _ramp_lag(1.0, beta=0.0)[1] == pytest.approx(1.0)


def test_filter_rejects_bad_input():
    f = OneEuroFilter(1.0, np.array([0.0, 1.0]), 1.0)  # one beta per element
    f(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="increase"):
        f(np.ones(2), 0.0)
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(3), 1.0)
    with pytest.raises(ValueError, match="finite"):
        f(np.array([np.nan, 0.0]), 1.0)
    for bad in ((0.0, 0.0, 1.0), (1.0, -1.0, 1.0), (1.0, 0.0, 0.0), (np.inf, 0.0, 1.0)):
        with pytest.raises(ValueError):
            OneEuroFilter(*bad)
    with pytest.raises(ValueError):
        SmoothingSettings(min_cutoff=-1.0)


def _planted_hand(model, transl, pose, betas, track_id=1) -> HandResult:
    """A HandResult of the open model with these parameters (as a model-based backend makes it)."""
    out = model(betas=torch.tensor(betas, dtype=torch.float32)[None],
                global_orient=torch.tensor(pose[:3], dtype=torch.float32)[None],
                hand_pose=torch.tensor(pose[3:], dtype=torch.float32)[None],
                transl=torch.tensor(transl, dtype=torch.float32)[None])
    verts, kp = out.vertices[0].detach().numpy(), out.keypoints[0].detach().numpy()
    uv = project_np(kp.astype(np.float64), K)
    return HandResult(handedness=model.side, handedness_score=0.9, score=0.9,
                      bbox=bbox_from_points(project_np(verts.astype(np.float64), K)), keypoints_2d=uv,
                      keypoints_3d=kp, vertices=verts, pose=pose, shape=betas, transl=transl, track_id=track_id)


def _frame_to_frame(values: list[np.ndarray]) -> float:
    """RMS distance between consecutive values."""
    v = np.stack(values)
    return float(np.sqrt((np.linalg.norm(np.diff(v, axis=0), axis=-1) ** 2).mean()))


def test_still_hand_jitter_is_cut_and_results_stay_consistent(models):
    rng = np.random.default_rng(0)
    pose = np.concatenate([[0.3, -2.6, 0.2], rng.normal(scale=0.15, size=45)])
    betas, transl = rng.normal(scale=0.5, size=10), np.array([0.05, 0.02, 0.5])
    smoother = HandSmoother()  # defaults: min_cutoff 1 Hz, beta 20 Hz per m/s
    raw, smooth = [], []
    for k in range(90):
        noisy = _planted_hand(models["right"], transl + rng.normal(size=3) * [0.002, 0.002, 0.008],
                              pose + rng.normal(scale=[0.03] * 3 + [0.05] * 45), betas + rng.normal(scale=0.1, size=10))
        (out,) = smoother([noisy], K, (WIDTH, HEIGHT), models, k / FPS)
        if k >= 30:  # after the filter has settled
            raw.append(noisy)
            smooth.append(out)
    for field, scale in (("keypoints_2d", 1.0), ("keypoints_3d", 1000.0)):
        before = _frame_to_frame([getattr(h, field)[0] * scale for h in raw])
        after = _frame_to_frame([getattr(h, field)[0] * scale for h in smooth])
        # measured (this seed): wrist 5.5 -> 1.2 px and 10.9 -> 2.9 mm RMS from frame to frame
        assert after < before / 3.0, (field, before, after)
    last = smooth[-1]
    rebuilt = _planted_hand(models["right"], last.transl, last.pose, last.shape)
    np.testing.assert_allclose(last.vertices, rebuilt.vertices, atol=1e-5)
    np.testing.assert_allclose(last.keypoints_3d, rebuilt.keypoints_3d, atol=1e-5)
    np.testing.assert_allclose(last.keypoints_2d, project_np(last.keypoints_3d.astype(np.float64), K), atol=1e-3)
    np.testing.assert_allclose(last.bbox, np.clip(rebuilt.bbox, 0, [WIDTH, HEIGHT] * 2), atol=1e-3)  # clipped
    # closer to the truth on average than the measurements, not merely still
    error = [np.linalg.norm(np.stack([h.transl for h in hands]) - transl, axis=1).mean() for hands in (raw, smooth)]
    assert error[1] < 0.6 * error[0], error
    assert (last.track_id, last.handedness, last.score) == (1, "right", 0.9)


def test_moving_hand_is_followed_with_little_lag(models):
    pose = np.concatenate([[0.3, -2.6, 0.2], np.zeros(45)])
    speed = np.array([0.5, 0.0, 0.0])  # m/s, a brisk reach

    def lag(beta: float) -> float:
        smoother = HandSmoother(SmoothingSettings(min_cutoff=1.0, beta=beta))
        for k in range(60):
            t = k / FPS
            hand = _planted_hand(models["right"], np.array([-0.2, 0.0, 0.6]) + speed * t, pose, np.zeros(10))
            (out,) = smoother([hand], K, (WIDTH, HEIGHT), models, t)
        return float(np.linalg.norm(hand.keypoints_3d[0] - out.keypoints_3d[0]))

    adaptive, fixed = lag(20.0), lag(0.0)
    assert adaptive < 0.2 * fixed  # measured: 5.6 mm against 80 mm
    assert adaptive < 0.012


def test_filters_follow_tracks_and_sides(models):
    rng = np.random.default_rng(1)
    smoother = HandSmoother()
    pose = np.concatenate([[0.3, -2.6, 0.2], np.zeros(45)])
    right = _planted_hand(models["right"], np.array([0.0, 0.0, 0.5]), pose, np.zeros(10), track_id=4)
    smoother([right], K, (WIDTH, HEIGHT), models, 0.0)
    moved = _planted_hand(models["right"], np.array([0.05, 0.0, 0.5]), pose, np.zeros(10), track_id=4)
    (held,) = smoother([moved], K, (WIDTH, HEIGHT), models, 1 / FPS)
    assert 0.0 < held.transl[0] < 0.05  # filtered towards the old position
    # the same track reported as a left hand starts a new filter: passed through unchanged
    left = _planted_hand(models["left"], np.array([0.05, 0.0, 0.5]), pose, np.zeros(10), track_id=4)
    (out,) = smoother([left], K, (WIDTH, HEIGHT), models, 2 / FPS)
    np.testing.assert_allclose(out.keypoints_3d, left.keypoints_3d, atol=1e-5)
    # untracked hands pass through; expired tracks are forgotten
    untracked = dataclasses.replace(right, track_id=0, transl=right.transl + rng.normal(size=3).astype(np.float32))
    assert smoother([untracked], K, (WIDTH, HEIGHT), models, 3 / FPS)[0] is untracked
    smoother.retain(set())
    (fresh,) = smoother([right], K, (WIDTH, HEIGHT), models, 4 / FPS)
    np.testing.assert_allclose(fresh.transl, right.transl, atol=1e-6)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    net = SingleStageNet({
        "model": {"input_size": 64, "backbone": {"name": "resnet18", "options": {"width": 8}},
                  "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": False}},
    })
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    net.save(path)
    return path


def test_single_stage_stream_mode_gives_track_ids_and_smooths(weights):
    # score_threshold 0: every local maximum of the (random) heatmap is a hand, 3 per frame
    image = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    still = create_predictor("single_stage", device="cpu", weights=weights, score_threshold=0.0, max_hands=3)
    assert {h.track_id for h in still.predict(image)} == {0}  # not a stream: untracked
    stream = create_predictor("single_stage", device="cpu", weights=weights, score_threshold=0.0, max_hands=3,
                              video=True, smoothing=True)
    first = stream.predict(image, timestamp=0.0)
    assert sorted(h.track_id for h in first) == [1, 2, 3] and "stream" in first.timings
    for k in range(1, 4):  # the same hands again: the same ids, and smoothing a still signal changes nothing
        again = stream.predict(image, timestamp=k / FPS)
        assert [h.track_id for h in again] == [h.track_id for h in first]
        for a, b in zip(again, first):
            np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-5)
            np.testing.assert_allclose(a.keypoints_2d, b.keypoints_2d, atol=1e-2)
    # a stamp out of order (as in recordings) is moved just past the previous one: no error
    late = stream.predict(image, timestamp=0.5 / FPS)
    assert [h.track_id for h in late] == [h.track_id for h in first]
    # a frame of another size starts a new stream: ids from 1 again
    other = stream.predict(image[:100, :180], timestamp=1.0)
    assert sorted(h.track_id for h in other) == [1, 2, 3]
    stream.reset()
    assert stream.tracker.tracks == [] and sorted(h.track_id for h in stream.predict(image, timestamp=0.0)) == [1, 2, 3]


def test_smoothing_options_are_checked_and_can_change_mid_stream(weights):
    with pytest.raises(ValueError, match="video=True"):
        create_predictor("single_stage", device="cpu", weights=weights, smoothing=True)
    with pytest.raises(ValueError):
        create_predictor("single_stage", device="cpu", weights=weights, video=True, smoothing=True,
                         smoothing_min_cutoff=0.0)
    p = create_predictor("single_stage", device="cpu", weights=weights, video=True)
    assert p.smoother is None
    p.set_smoothing(True, min_cutoff=0.5, beta=5.0)
    assert p.smoother.settings == SmoothingSettings(0.5, 5.0, 1.0)
    p.set_smoothing(True, min_cutoff=2.0, beta=0.0)
    assert p.smoother.settings.min_cutoff == 2.0
    p.set_smoothing(False)
    assert p.smoother is None
