"""Decoding of planted maps (hand_mesh_core.network.decoding): peaks, sides, parameters, metric wrist."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hand_mesh_core.camera import project_np
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.network.decoding import decode, find_peaks, gather_from_map, pose_hands
from hand_mesh_core.network.heads import PARAMS_PER_SIDE
from hand_mesh_core.network.letterbox import fit_letterbox

STRIDE = 4
DEPTH_REF = 0.002
MAP = 32  # output cells: a 128x128 network input


@pytest.fixture(scope="module")
def hand_models():
    return {side: HandModel(side=side).eval() for side in ("left", "right")}


def _plant(hands, batch=1, seed=0):
    """Maps with the given hands: (b, row, col, peak_logit, is_right, params[61]) each."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.full((batch, 1, MAP, MAP), -8.0)
    handed = torch.zeros(batch, 2, MAP, MAP)
    params = torch.randn(batch, 2 * PARAMS_PER_SIDE, MAP, MAP, generator=g) * 0.3
    rows, cols = torch.meshgrid(torch.arange(MAP), torch.arange(MAP), indexing="ij")
    for b, r, c, logit, right, p in hands:
        d2 = ((rows - r) ** 2 + (cols - c) ** 2).float()
        # a bump that decreases away from the peak: neighbours are high but lower
        centre[b, 0] = torch.maximum(centre[b, 0], logit - 1.5 * d2)
        handed[b, 1 if right else 0, r, c] = 3.0
        handed[b, 0 if right else 1, r, c] = -3.0
        start = PARAMS_PER_SIDE if right else 0
        params[b, start : start + PARAMS_PER_SIDE, r, c] = p
    return centre, handed, params


def _random_params(g, n):
    p = torch.randn(n, PARAMS_PER_SIDE, generator=g) * 0.2
    p[:, 58:60] = torch.rand(n, 2, generator=g) * 4 - 2  # offsets (cells)
    p[:, 60] = torch.rand(n, generator=g) * 0.6 - 0.3  # depth term
    return p


def _decode(maps, hand_models, K=None, batch=1, **kw):
    centre, handed, params = maps
    K = torch.tensor([[120.0, 0, 64.0], [0, 120.0, 64.0], [0, 0, 1]]) if K is None else K
    opts = dict(stride=STRIDE, depth_ref=DEPTH_REF, score_threshold=0.3, max_hands=16, nms_kernel=5)
    opts.update(kw)
    return decode(centre, handed, gather_from_map(params), K, hand_models, **opts)


def test_no_hand_gives_an_empty_result(hand_models):
    out = _decode(_plant([], batch=2), hand_models, batch=2)
    assert len(out) == 0
    V = hand_models["right"].num_vertices
    assert out.vertices.shape == (0, V, 3) and out.keypoints_3d.shape == (0, 21, 3)


@pytest.mark.parametrize("count", [1, 8])
def test_planted_hands_are_recovered_exactly(hand_models, count):
    g = torch.Generator().manual_seed(count)
    cells = [(2 + 7 * (i % 4), 3 + 14 * (i // 4)) for i in range(count)]  # >= 7 cells apart
    logits = [4.0 - 0.3 * i for i in range(count)]
    sides = [bool(i % 3) for i in range(count)]
    p = _random_params(g, count)
    hands = [(0, r, c, lg, s, p[i]) for i, ((r, c), lg, s) in enumerate(zip(cells, logits, sides))]
    out = _decode(_plant(hands), hand_models)
    assert len(out) == count
    # sorted by descending score, which is the planting order here
    assert out.cells.tolist() == [list(c) for c in cells]
    assert torch.allclose(out.score, torch.sigmoid(torch.tensor(logits)))
    assert out.is_right.tolist() == sides
    s_hi, s_lo = 1 / (1 + math.exp(-3.0)), 1 / (1 + math.exp(3.0))
    assert torch.allclose(out.handedness_score, torch.full((count,), s_hi / (s_hi + s_lo)))
    assert torch.equal(out.global_orient, p[:, 0:3])
    assert torch.equal(out.hand_pose, p[:, 3:48])
    assert torch.equal(out.betas, p[:, 48:58])
    # meshes: the hand model's output for these parameters, moved so the wrist is on target
    for i in range(count):
        model = hand_models["right" if sides[i] else "left"]
        ref = model(betas=p[i : i + 1, 48:58], global_orient=p[i : i + 1, :3], hand_pose=p[i : i + 1, 3:48])
        shift = out.wrist[i] - ref.joints[0, 0]
        assert torch.allclose(out.vertices[i], ref.vertices[0] + shift, atol=1e-5)
        assert torch.allclose(out.joints[i, 0], out.wrist[i], atol=1e-6)
        assert torch.allclose(out.transl[i], shift, atol=1e-6)


def test_hands_spread_over_a_batch_keep_their_image(hand_models):
    g = torch.Generator().manual_seed(3)
    p = _random_params(g, 3)
    hands = [(1, 5, 5, 3.0, True, p[0]), (0, 20, 9, 2.0, False, p[1]), (1, 25, 25, 1.0, False, p[2])]
    K = torch.tensor([[120.0, 0, 64.0], [0, 120.0, 64.0], [0, 0, 1]]).expand(2, 3, 3)
    out = _decode(_plant(hands, batch=2), hand_models, K=K)
    assert out.batch_index.tolist() == [0, 1, 1]
    assert out.cells.tolist() == [[20, 9], [5, 5], [25, 25]]
    assert out.is_right.tolist() == [False, True, False]


def test_near_duplicate_peak_is_suppressed_and_threshold_and_cap_apply(hand_models):
    g = torch.Generator().manual_seed(5)
    p = _random_params(g, 2)
    # a second, lower local maximum 2 cells away (a separate bump: it survives 3x3 NMS)
    hands = [(0, 10, 10, 3.0, True, p[0]), (0, 10, 12, 2.5, True, p[1])]
    centre, handed, params = _plant(hands)
    assert len(find_peaks(centre, 0.3, 16, nms_kernel=3).scores) == 2
    out = _decode((centre, handed, params), hand_models)  # 5x5 NMS
    assert len(out) == 1 and out.cells.tolist() == [[10, 10]]
    # threshold: a peak below it is dropped, at it kept
    low = _plant([(0, 5, 5, 3.0, True, p[0]), (0, 25, 25, math.log(0.3 / 0.7) - 0.01, False, p[1])])
    assert len(_decode(low, hand_models)) == 1
    # cap: the highest max_hands peaks are kept
    many = [(0, 2 + 7 * (i % 4), 3 + 14 * (i // 4), 1.0 + 0.2 * i, True, p[0]) for i in range(8)]
    out = _decode(_plant(many), hand_models, max_hands=3)
    assert len(out) == 3
    assert torch.allclose(out.score, torch.sigmoid(torch.tensor([2.4, 2.2, 2.0])))


def _plant_wrist(wrist, K, image_size, input_size=128):
    """Network outputs (cell, offset, depth term) that encode ``wrist`` for this camera."""
    box = fit_letterbox(*image_size, input_size)
    uv_net = box.to_network(project_np(np.asarray(wrist)[None], K))[0]
    cell = np.floor(uv_net / STRIDE).astype(int)  # (col, row)
    offset = uv_net / STRIDE - cell - 0.5
    K_net = box.intrinsics(K)
    f_net = math.sqrt(K_net[0, 0] * K_net[1, 1])
    depth = math.log(wrist[2] / (DEPTH_REF * f_net))
    return box, (int(cell[1]), int(cell[0])), offset, depth


@pytest.mark.parametrize(
    "K,image_size",
    [
        (np.array([[600.0, 0, 320.0], [0, 600.0, 240.0], [0, 0, 1]]), (640, 480)),
        (np.array([[1400.0, 0, 700.0], [0, 1380.0, 1010.0], [0, 0, 1]]), (1280, 1920)),
    ],
)
def test_wrist_decodes_to_the_metric_point_in_the_real_camera(hand_models, K, image_size):
    wrist = np.array([0.06, -0.04, 0.55])
    box, (r, c), offset, depth = _plant_wrist(wrist, K, image_size)
    p = torch.zeros(PARAMS_PER_SIDE)
    p[58:60] = torch.tensor(offset, dtype=torch.float32)
    p[60] = depth
    maps = _plant([(0, r, c, 3.0, True, p)])
    K_net = torch.tensor(box.intrinsics(K), dtype=torch.float32)
    out = _decode(maps, hand_models, K=K_net)
    assert len(out) == 1
    assert np.allclose(out.wrist[0].numpy(), wrist, atol=1e-5)
    assert np.allclose(out.keypoints_3d[0, 0].numpy(), wrist, atol=1e-5)
    # the wrist projects back to its pixel in the original image with the real K
    assert np.allclose(project_np(out.keypoints_3d[0, :1].double().numpy(), K), project_np(wrist[None], K), atol=1e-2)


def test_same_image_evidence_gives_depth_proportional_to_the_focal_length(hand_models):
    p = torch.zeros(PARAMS_PER_SIDE)
    p[60] = 0.2
    maps = _plant([(0, 16, 16, 3.0, True, p)])
    K1 = torch.tensor([[100.0, 0, 64.0], [0, 100.0, 64.0], [0, 0, 1]])
    K2 = torch.tensor([[250.0, 0, 64.0], [0, 250.0, 64.0], [0, 0, 1]])
    z1 = _decode(maps, hand_models, K=K1).wrist[0, 2].item()
    z2 = _decode(maps, hand_models, K=K2).wrist[0, 2].item()
    assert z1 == pytest.approx(DEPTH_REF * 100.0 * math.exp(0.2), rel=1e-5)
    assert z2 / z1 == pytest.approx(2.5, rel=1e-5)


def test_pose_hands_is_differentiable_and_checks_shapes(hand_models):
    n = 3
    go = torch.zeros(n, 3, requires_grad=True)
    hp = torch.zeros(n, 45, requires_grad=True)
    betas = torch.zeros(n, 10, requires_grad=True)
    wrist = torch.tensor([[0.0, 0.0, 0.5]] * n, requires_grad=True)
    posed = pose_hands(hand_models, torch.tensor([True, False, True]), go, hp, betas, wrist)
    posed.keypoints[:, 8].sum().backward()  # index fingertips
    for t in (go, hp, betas, wrist):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="hand_pose"):
        pose_hands(hand_models, torch.tensor([True]), go[:1], hp[:1, :40], betas[:1], wrist[:1])
