"""Training targets from labels and the weighted objective (network.targets, network.objective)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_mesh_core.data.sample import HandLabel
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.losses.heatmap import gaussian_radius
from hand_mesh_core.network.config import load_config
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.training.objective import TERMS, SingleStageObjective
from hand_mesh_core.training.targets import OCCLUDED_KEYPOINT_WEIGHT, build_targets

SIZE = 64
K = np.array([[70.0, 0.0, 32.0], [0.0, 70.0, 32.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def hand_models():
    return {s: HandModel(side=s) for s in ("left", "right")}


def _label(models, side, transl, mask=True, handedness=True, seed=0):
    """A hand seen from the camera with all its labels, from known parameters."""
    rng = np.random.default_rng(seed)
    pose = np.concatenate([[0.0, 0.0, 1.57] if side == "right" else [0.0, 0.0, -1.57], rng.normal(0, 0.1, 45)])
    betas = rng.normal(0, 0.5, 10)
    with torch.no_grad():
        out = models[side](betas=torch.tensor(betas, dtype=torch.float32)[None],
                           global_orient=torch.tensor(pose[:3], dtype=torch.float32)[None],
                           hand_pose=torch.tensor(pose[3:], dtype=torch.float32)[None],
                           transl=torch.tensor(transl, dtype=torch.float32)[None])
    kp3d = out.keypoints[0].numpy()
    kp2d = kp3d[:, :2] / kp3d[:, 2:] * 70.0 + 32.0
    visible = np.ones(21, bool)
    visible[[4, 8]] = False  # two occluded tips
    m = None
    if mask:
        m = np.zeros((SIZE, SIZE), bool)
        x0, y0 = np.floor(kp2d.min(0)).astype(int).clip(0, SIZE - 1)
        x1, y1 = np.ceil(kp2d.max(0)).astype(int).clip(0, SIZE - 1)
        m[y0:y1, x0:x1] = True
    return HandLabel(keypoints_2d=kp2d, valid=np.ones(21, bool), visibility=visible,
                     handedness=side if handedness else None, keypoints_3d=kp3d, pose=pose, shape=betas,
                     transl=np.asarray(transl), mask=m)


def test_targets_from_labels(hand_models):
    a = _label(hand_models, "right", [0.05, 0.0, 0.6])
    b = _label(hand_models, "left", [-0.08, 0.02, 0.7], mask=False, handedness=False, seed=1)
    t = build_targets([[a], [b]], np.stack([K, K]), SIZE, 4, hand_models=hand_models)
    centre_a = a.keypoints_2d[a.visibility].mean(0)
    row, col = int(centre_a[1] // 4), int(centre_a[0] // 4)
    assert t.batch_index.tolist() == [0, 1]
    assert t.cells[0].tolist() == [row, col]
    assert t.centre[0, 0, row, col] == 1.0 and (t.centre[0] == 1.0).sum() == 1
    assert t.handedness[0, 1, row, col] == 1.0 and t.handedness[0, 0].max() == 0.0  # right channel only
    # radius from the hand's size in cells: the Gaussian is non-zero exactly within floor(r)
    x0, y0, x1, y1 = a.box()
    r = int(gaussian_radius((y1 - y0) / 4, (x1 - x0) / 4))
    assert t.centre[0, 0, row, col + r] > 0 and t.centre[0, 0, row, col + r + 1] == 0
    # unknown side: no handedness target and its window masked out of the loss
    assert t.side_known.tolist() == [True, False]
    assert t.handedness[1].max() == 0.0 and t.handedness_mask[1, :, t.cells[1, 0], t.cells[1, 1]].sum() == 0
    assert t.handedness_mask[0].min() == 1.0
    # keypoint weights: visible 1, occluded 0.5
    assert t.keypoint_weight[0, 0] == 1.0 and t.keypoint_weight[0, 4] == OCCLUDED_KEYPOINT_WEIGHT
    # masks: only the image whose hands all have masks is valid
    assert t.mask_valid.tolist() == [True, False] and t.hand_mask[0].sum() > 0 and t.hand_mask[1].sum() == 0
    # 3D and vertex targets reproduce the labelled hand
    assert t.has_3d.all() and torch.allclose(t.keypoints_3d[0], torch.from_numpy(a.keypoints_3d))
    assert t.has_vertices.tolist() == [True, False]  # b has no side: which model would it be?
    with torch.no_grad():
        ref = hand_models["right"](betas=torch.tensor(a.shape)[None], global_orient=torch.tensor(a.pose[:3])[None],
                                   hand_pose=torch.tensor(a.pose[3:])[None], transl=torch.tensor(a.transl)[None])
    assert torch.allclose(t.vertices[0], ref.vertices[0], atol=1e-6)
    assert torch.allclose(t.vertices_root[0], ref.joints[0, 0], atol=1e-6)
    with pytest.raises(ValueError, match="K_net"):
        build_targets([[a]], K, SIZE)


def _net(render_size=32, **loss):
    cfg = load_config({
        "model": {"input_size": SIZE, "backbone": {"name": "resnet18", "options": {"width": 8}},
                  "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": True}},
        "objective": {"render_size": render_size},
        "loss": loss,
    })
    torch.manual_seed(0)
    return cfg, SingleStageNet(cfg)


def _batch(hand_models):
    labels = [[_label(hand_models, "right", [0.05, 0.0, 0.6])],
              [_label(hand_models, "left", [-0.08, 0.02, 0.7], seed=1),
               _label(hand_models, "right", [0.09, 0.03, 0.8], handedness=False, seed=2)]]
    targets = build_targets(labels, np.stack([K, K]), SIZE, 4, hand_models=hand_models)
    images = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return targets, images


def test_total_is_the_weighted_sum_and_gradients_reach_every_head(hand_models):
    cfg, net = _net()
    objective = SingleStageObjective(cfg, hand_models)
    targets, images = _batch(hand_models)
    out = objective(net, net(images), targets, images=images)
    assert set(out.terms) == set(TERMS)
    assert all(torch.isfinite(v) for v in out.terms.values())
    expected = sum(float(cfg.loss[k]) * v.item() for k, v in out.terms.items())
    assert out.total.item() == pytest.approx(expected, rel=1e-5)
    for name in ("centre", "handedness", "side", "keypoints_2d", "bone_direction", "joints_3d", "wrist_3d", "vertices_3d",
                 "photometric", "silhouette"):
        assert out.terms[name].item() > 0, name
    out.total.backward()
    for name, module in (("centre head", net.heads.centre), ("handedness head", net.heads.handedness),
                         ("parameter head", net.heads.params), ("appearance head", net.heads.appearance_head),
                         ("backbone", net.backbone)):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum().item() for g in grads) > 0, name


def test_rendering_terms_pass_gradient_to_the_mesh_and_the_appearance(hand_models):
    cfg, net = _net(**{k: 0.0 for k in TERMS if k not in ("photometric", "silhouette")})
    objective = SingleStageObjective(cfg, hand_models)
    targets, images = _batch(hand_models)
    out = objective(net, net(images), targets, images=images)
    assert out.terms["silhouette"] > 0 and out.terms["photometric"] > 0
    out.total.backward()
    # silhouette gradient reaches the parameter head (through the mesh), unlike the authors' code
    assert net.heads.params.conv2.weight.grad.abs().sum() > 0
    assert net.heads.appearance_head.conv2.weight.grad.abs().sum() > 0


def test_zero_weights_disable_terms_and_images_without_hands(hand_models):
    cfg, net = _net(photometric=0.0, silhouette=0.0, keypoints_2d=0.0)
    objective = SingleStageObjective(cfg, hand_models)
    targets, images = _batch(hand_models)
    out = objective(net, net(images), targets, images=images)
    expected = sum(float(cfg.loss[k]) * v.item() for k, v in out.terms.items() if k != "keypoints_2d")
    assert out.total.item() == pytest.approx(expected, rel=1e-5)
    assert out.terms["photometric"] == 0 and out.terms["silhouette"] == 0
    assert out.hands.vertices is not None  # the vertex loss still needs the mesh
    # a batch without hands: only the heatmap terms, and they still train
    empty = build_targets([[], []], np.stack([K, K]), SIZE, 4)
    out = objective(net, net(images), empty, images=images)
    assert out.hands is None and out.terms["keypoints_2d"] == 0
    assert out.total.item() == pytest.approx(100 * (out.terms["centre"] + out.terms["handedness"]).item(), rel=1e-5)
    out.total.backward()
    assert net.heads.centre.conv2.weight.grad.abs().sum() > 0
