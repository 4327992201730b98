"""The keypoint heatmap head (ours): its targets, loss, reading at decode time, the refinement
of decoded hands to it, fine-tuning from a file without it, and its ONNX output."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from hand_mesh_core.camera import project
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.losses.heatmap import keypoint_heatmap_focal_loss, render_gaussians
from hand_mesh_core.network.decoding import DecodedHands, pose_hands
from hand_mesh_core.single_stage.keypoint_refinement import KeypointRefiner, RefinementSettings, read_keypoints
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.training.targets import KEYPOINT_RADIUS_FRACTION, KEYPOINT_RADIUS_RANGE, keypoint_heatmap_targets

STRIDE = 4
MAP = 32


@pytest.fixture(scope="module")
def hand_models():
    return {side: HandModel(side=side).eval() for side in ("left", "right")}


def _hands(seed=0):
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(3, 21, 2, generator=g) * 60 + 20  # network pixels of a 128 input
    weight = torch.ones(3, 21)
    weight[1, 5] = 0.0  # unknown keypoint
    weight[2, 7] = 0.5  # occluded but known
    return kp, weight, torch.tensor([0, 0, 1])


def test_targets_peak_at_each_known_keypoint_in_its_own_channel_and_image():
    kp, weight, batch_index = _hands()
    target, mask = keypoint_heatmap_targets(kp, weight, batch_index, 2, (MAP, MAP), STRIDE)
    assert target.shape == mask.shape == (2, 21, MAP, MAP)
    size = ((kp / STRIDE).amax(1) - (kp / STRIDE).amin(1)).amax(1)
    radius = (KEYPOINT_RADIUS_FRACTION * size).clamp(*KEYPOINT_RADIUS_RANGE)
    for b in range(2):
        for j in range(21):
            hands = [i for i in range(3) if int(batch_index[i]) == b and weight[i, j] > 0]
            cells = (kp[hands, j] / STRIDE).floor().long().flip(1)  # (row, col)
            expected = render_gaussians(cells, radius[hands], (MAP, MAP))
            assert torch.equal(target[b, j], expected), (b, j)
            for r, c in cells.tolist():
                assert target[b, j, r, c] == 1.0
    # the unknown keypoint (hand 1, keypoint 5) is neither a positive nor background near hand 1
    r, c = (kp[1].mean(0) / STRIDE).long().flip(0).tolist()
    assert mask[0, 5, r, c] == 0.0 and mask[0, 4, r, c] == 1.0 and mask[1, 5].min() == 1.0


def test_targets_without_hands_are_empty_and_reject_bad_shapes():
    target, mask = keypoint_heatmap_targets(torch.zeros(0, 21, 2), torch.zeros(0, 21), torch.zeros(0, dtype=torch.long),
                                            2, (MAP, MAP))
    assert target.abs().sum() == 0 and mask.min() == 1
    with pytest.raises(ValueError, match="21"):
        keypoint_heatmap_targets(torch.zeros(2, 20, 2), torch.zeros(2, 20), torch.zeros(2, dtype=torch.long), 1, (8, 8))


def test_focal_loss_is_lower_for_the_target_than_for_a_shifted_map():
    kp, weight, batch_index = _hands()
    target, mask = keypoint_heatmap_targets(kp, weight, batch_index, 2, (MAP, MAP), STRIDE)
    good = torch.logit(target.clamp(1e-4, 1 - 1e-4))
    shifted = torch.roll(good, shifts=3, dims=-1)
    assert keypoint_heatmap_focal_loss(good, target, mask) < 0.1 * keypoint_heatmap_focal_loss(shifted, target, mask)
    with pytest.raises(ValueError, match="21"):
        keypoint_heatmap_focal_loss(good[:, :3], target[:, :3])


def _bump(uv, logit=4.0, sigma=1.0):
    """Logit map of one Gaussian bump (log-Gaussian) centred on ``uv`` (network px)."""
    ys = (torch.arange(MAP).float() + 0.5) * STRIDE
    xs = (torch.arange(MAP).float() + 0.5) * STRIDE
    d2 = ((ys[:, None] - uv[1]) ** 2 + (xs[None, :] - uv[0]) ** 2) / STRIDE**2
    return logit - d2 / (2 * sigma**2)


def test_read_keypoints_finds_sub_cell_peaks_near_the_guess_and_ignores_other_hands():
    true = torch.tensor([[40.7, 61.3]])
    heat = torch.full((1, 21, MAP, MAP), -10.0)
    heat[0, 3] = _bump(true[0])
    heat[0, 3] = torch.maximum(heat[0, 3], _bump(torch.tensor([110.0, 20.0]), logit=8.0))  # another hand's, stronger
    guess = torch.zeros(1, 21, 2)
    guess[0] = torch.rand(21, 2) * 40 + 30  # a hand about 40 px wide around (50, 50)
    guess[0, 3] = true[0] + torch.tensor([5.0, -4.0])
    uv, score = read_keypoints(heat, torch.tensor([0]), guess, window=0.25, stride=STRIDE)
    assert torch.allclose(uv[0, 3], true[0], atol=0.3)  # sub-cell: well below the 4 px cell
    assert score[0, 3] == pytest.approx(torch.sigmoid(torch.tensor(4.0)).item(), abs=0.05)
    assert float(score[0, :3].max()) < 0.01  # empty channels: no evidence
    with pytest.raises(ValueError, match="21"):
        read_keypoints(heat[:, :5], torch.tensor([0]), guess, 0.25, STRIDE)


def _brute_force_peak(heat, image, guess, radius_cells):
    """(row, col, logit) of the highest cell within ``radius_cells`` of ``guess`` (pixels), by
    visiting every cell of the map (the definition :func:`read_keypoints` must match)."""
    centre = guess / STRIDE - 0.5
    best = (None, None, -float("inf"))
    for row in range(heat.shape[-2]):
        for col in range(heat.shape[-1]):
            if (row - float(centre[1])) ** 2 + (col - float(centre[0])) ** 2 <= radius_cells ** 2:
                if float(heat[image, row, col]) > best[2]:
                    best = (row, col, float(heat[image, row, col]))
    return best


def test_read_keypoints_takes_the_highest_cell_of_the_window_as_a_full_map_search_does():
    """Random maps, hands of several sizes, guesses near and beyond the map's edges: each
    keypoint's peak cell and score are those of a search over every cell; a guess whose
    window holds no cell keeps the guess with score 0."""
    g = torch.Generator().manual_seed(7)
    heat = torch.randn(2, 21, 20, 23, generator=g) * 3.0
    batch = torch.tensor([1, 0, 1])
    centres = torch.tensor([[10.0, 12.0], [85.0, 70.0], [-6.0, 40.0]])  # the last one left of the map
    spread = torch.tensor([6.0, 25.0, 12.0])
    guess = centres[:, None] + torch.randn(3, 21, 2, generator=g) * spread[:, None, None]
    guess[2, 0] = torch.tensor([-400.0, -400.0])  # nothing of the map within its window
    uv, score = read_keypoints(heat, batch, guess, window=0.4, stride=STRIDE)
    cells = guess / STRIDE - 0.5
    size = (cells.amax(dim=1) - cells.amin(dim=1)).amax(dim=1)
    checked = 0
    for n in range(3):
        radius = max(0.4 * float(size[n]), 2.0)
        for j in range(21):
            row, col, logit = _brute_force_peak(heat[:, j], int(batch[n]), guess[n, j], radius)
            if row is None:
                assert torch.equal(uv[n, j], guess[n, j]) and float(score[n, j]) == 0.0
                continue
            checked += 1
            assert float(score[n, j]) == pytest.approx(torch.sigmoid(torch.tensor(logit)).item(), abs=1e-6)
            # the sub-cell offset moves at most half a cell from the peak cell's middle
            assert abs(float(uv[n, j, 0]) - (col + 0.5) * STRIDE) <= 0.5 * STRIDE + 1e-4
            assert abs(float(uv[n, j, 1]) - (row + 0.5) * STRIDE) <= 0.5 * STRIDE + 1e-4
    assert checked >= 50 and float(score[2, 0]) == 0.0


def test_refinement_pulls_a_wrong_hand_onto_the_heatmaps(hand_models):
    """Plant heatmaps at the true hand's keypoints, decode a hand with a wrong pose: the
    refined hand's 2D keypoints land near the truth and its mesh agrees with them."""
    K = torch.tensor([[[150.0, 0, 64.0], [0, 150.0, 64.0], [0, 0, 1]]])
    g = torch.Generator().manual_seed(3)
    is_right = torch.tensor([True])
    true_pose = torch.randn(1, 45, generator=g) * 0.25
    orient = torch.tensor([[0.3, -0.2, 0.1]])
    wrist = torch.tensor([[0.0, 0.0, 0.5]])
    true = pose_hands(hand_models, is_right, orient, true_pose, torch.zeros(1, 10), wrist)
    true_2d = project(true.keypoints, K[[0]])
    heat = torch.full((1, 21, MAP, MAP), -10.0)
    for j in range(21):
        heat[0, j] = _bump(true_2d[0, j], sigma=0.7)
    wrong_pose = true_pose + torch.randn(1, 45, generator=g) * 0.3
    wrong = pose_hands(hand_models, is_right, orient + 0.1, wrong_pose, torch.zeros(1, 10), wrist * 1.1)
    hands = DecodedHands(
        batch_index=torch.tensor([0]), cells=torch.tensor([[8, 8]]), score=torch.tensor([0.9]), is_right=is_right,
        handedness_score=torch.tensor([0.9]), global_orient=orient + 0.1, hand_pose=wrong_pose,
        betas=torch.zeros(1, 10), transl=wrong.transl, wrist=wrist * 1.1, vertices=wrong.vertices,
        joints=wrong.joints, keypoints_3d=wrong.keypoints, keypoints_2d_net=project(wrong.keypoints, K[[0]]),
    )
    before = (hands.keypoints_2d_net - true_2d).norm(dim=-1).mean()
    refined = KeypointRefiner(hand_models, RefinementSettings(window=0.5), STRIDE)(hands, heat, K)
    after = (refined.keypoints_2d_net - true_2d).norm(dim=-1).mean()
    assert before > 2.0 and after < 0.35 * before
    assert torch.allclose(project(refined.keypoints_3d, K[[0]]), refined.keypoints_2d_net, atol=1e-4)
    assert torch.allclose(refined.keypoints_3d[:, 0], refined.wrist, atol=1e-5)
    assert refined.score.equal(hands.score) and refined.is_right.equal(hands.is_right)
    off = KeypointRefiner(hand_models, dataclasses.replace(RefinementSettings(), enabled=False), STRIDE)
    assert off(hands, heat, K) is hands


def test_fine_tuning_from_a_file_without_the_head_keeps_its_weights(tmp_path):
    net = SingleStageNet("single_stage_palm", pretrained_backbone=False)
    path = tmp_path / "plain.safetensors"
    net.save(path)
    config = net.config.copy()
    with_head = SingleStageNet.load(path, config={**_container(config), "model": {
        **_container(config)["model"], "heads": {**_container(config)["model"]["heads"], "keypoint_heatmaps": True}}})
    assert with_head.heads.keypoints is not None
    assert torch.equal(with_head.heads.params.conv2.weight, net.heads.params.conv2.weight)
    out = with_head.eval()(torch.rand(1, 3, net.input_size, net.input_size))
    assert out["keypoint_heatmaps"].shape == (1, 21, net.input_size // 4, net.input_size // 4)
    # the plain file's own config: no head, and a file lacking a non-head tensor is refused
    assert SingleStageNet.load(path).heads.keypoints is None
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    state = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    state.pop("neck.lateral.0.weight")
    broken = tmp_path / "broken.safetensors"
    save_file(state, str(broken), metadata=meta)
    with pytest.raises(ValueError, match="missing"):
        SingleStageNet.load(broken, config=with_head.config)


def _container(cfg):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


def test_onnx_export_carries_the_keypoint_heatmaps(tmp_path):
    pytest.importorskip("onnxruntime")
    from hand_mesh_core.single_stage.runtimes.onnx_export import KEYPOINT_OUTPUT, export_onnx, max_abs_difference, read_onnx_info
    from hand_mesh_core.single_stage.runtimes.onnxruntime_engine import OnnxRuntimeEngine

    torch.manual_seed(0)
    net = SingleStageNet({"model": {"input_size": 128, "heads": {"keypoint_heatmaps": True, "appearance": False}}},
                         pretrained_backbone=False).eval()
    path = export_onnx(net, tmp_path / "kp.onnx")
    info = read_onnx_info(path)
    assert info.outputs[-1] == KEYPOINT_OUTPUT
    engine = OnnxRuntimeEngine(path, threads=1)
    images = torch.rand(2, 3, 128, 128)
    outputs = engine(images)
    assert outputs[KEYPOINT_OUTPUT].shape == (2, 21, 32, 32)
    diff = max_abs_difference(net, outputs, images)
    assert set(diff) == {"centre", "handedness", "params", KEYPOINT_OUTPUT}
    assert max(diff.values()) < 1e-3
    np.testing.assert_array_less(-1e9, outputs[KEYPOINT_OUTPUT].numpy())  # finite logits
