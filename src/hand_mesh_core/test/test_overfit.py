"""Overfit: a small single-stage network learns two synthetic images with known labels.

Two images (one right hand; one left and one right hand) are made from known hand-model
parameters: the 21 keypoints projected through the image's K are drawn as a thick
skeleton (the hand mask is the drawing); labels (2D keypoints, visibility, side, 3D
keypoints, pose/shape/translation for vertex targets, masks) come from the same
parameters. The objective with the paper's weights must fall by at least 20x in a fixed
number of Adam steps (about 5 s of CPU on a quiet 2-core machine, 1-2 minutes when it is
heavily shared; the step count, not a timer, bounds the test so its outcome does not
depend on the machine's load), and decoding the trained network must find exactly the
labelled hands, with the right sides and near their labels. Every term with labels here is
active except the two rendering terms, whose soft rasterisation would multiply the step
time by about 4 on CPU; their wiring into the objective is tested in
``test_network_objective.py``.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.sample import HandLabel
from hand_mesh_core.hand_model import SKELETON_EDGES, HandModel, mirror_pose, named_pose
from hand_mesh_core.network.config import load_config
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.network.decoding import decode
from hand_mesh_core.single_stage.runtimes.torch_engine import TorchEngine
from hand_mesh_core.training.objective import SingleStageObjective
from hand_mesh_core.training.targets import build_targets

pytestmark = pytest.mark.slow

SIZE = 96
STEPS = 160

# MANO canonical right hand: fingers along -x, palm facing -y. Rotate so that the fingers
# point up in the image (-y of the camera) and the palm faces the camera (-z).
FACING_CAMERA = Rotation.from_matrix(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))


def _hand(models, side, wrist, pose_name, tilt_deg, betas_scale=0.5, seed=0):
    """Label of one hand placed with its wrist at ``wrist`` (metres)."""
    rng = np.random.default_rng(seed)
    tilt = Rotation.from_euler("z", tilt_deg, degrees=True)
    orient = (tilt * FACING_CAMERA).as_rotvec()
    pose = named_pose(pose_name, side).float().reshape(45).numpy()
    if side == "left":
        orient = np.asarray(mirror_pose(orient[None]))[0]
    betas = (rng.standard_normal(10) * betas_scale).astype(np.float32)
    with torch.no_grad():
        out = models[side](betas=torch.tensor(betas)[None], global_orient=torch.tensor(orient, dtype=torch.float32)[None],
                           hand_pose=torch.tensor(pose)[None])
    transl = np.asarray(wrist, np.float32) - out.joints[0, 0].numpy()
    return side, np.concatenate([orient, pose]).astype(np.float32), betas, transl, (out.keypoints[0].numpy() + transl)


def _scene(models, hands, K, seed):
    """Image, labels: each hand's skeleton drawn thick in a skin colour over a textured background."""
    rng = np.random.default_rng(seed)
    image = (rng.random((SIZE, SIZE, 3)) * 60 + 40).astype(np.uint8)
    labels = []
    for side, pose, betas, transl, kp3d in hands:
        kp2d = project_np(kp3d.astype(np.float64), K).astype(np.float32)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        pts = np.round(kp2d * 16).astype(np.int32)  # 4 fractional bits
        for a, b in SKELETON_EDGES:
            cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 255, 4, cv2.LINE_AA, shift=4)
        cv2.fillConvexPoly(mask, pts[[0, 1, 5, 9, 13, 17]], 255, cv2.LINE_AA, shift=4)
        colour = np.array([220, 170, 140] if side == "right" else [200, 150, 120], np.float32)
        alpha = (mask.astype(np.float32) / 255.0)[..., None]
        image = (image * (1 - alpha) + colour * alpha).astype(np.uint8)
        inside = (kp2d[:, 0] >= 0) & (kp2d[:, 0] < SIZE) & (kp2d[:, 1] >= 0) & (kp2d[:, 1] < SIZE)
        labels.append(HandLabel(keypoints_2d=kp2d, valid=np.ones(21, bool), visibility=inside, handedness=side,
                                keypoints_3d=kp3d, pose=pose, shape=betas, transl=transl, mask=mask > 127))
    return image, labels


def test_small_network_overfits_two_synthetic_images_and_decodes_their_hands():
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    models = {s: HandModel(side=s) for s in ("left", "right")}
    f = SIZE * 1.2
    K = np.array([[f, 0.0, SIZE / 2], [0.0, f, SIZE / 2], [0.0, 0.0, 1.0]])
    scenes = [
        [_hand(models, "right", [0.0, 0.06, 0.55], "relaxed", 10.0, seed=1)],
        [_hand(models, "left", [-0.09, 0.07, 0.6], "spread", -15.0, seed=2),
         _hand(models, "right", [0.1, 0.06, 0.65], "point", 20.0, seed=3)],
    ]
    images, labels = zip(*[_scene(models, hands, K, seed=i) for i, hands in enumerate(scenes)])
    cfg = load_config(
        {
            "model": {
                "input_size": SIZE,
                "backbone": {"name": "resnet18", "options": {"width": 16}},
                "neck": {"channels": 32, "lateral_channels": 16},
                "heads": {"hidden": 32, "appearance": True},
            },
            "loss": {"photometric": 0.0, "silhouette": 0.0},
        }
    )
    net = SingleStageNet(cfg)
    objective = SingleStageObjective(cfg, models)
    targets = build_targets(labels, np.stack([K, K]), SIZE, net.stride, hand_models=models)
    assert targets.has_vertices.all() and targets.mask_valid.all()
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    opt = torch.optim.Adam(net.parameters(), lr=1.5e-3)
    # a step down of the learning rate for the last 30% settles the fit (less oscillation)
    schedule = torch.optim.lr_scheduler.MultiStepLR(opt, [int(STEPS * 0.7)], 0.2)

    net.train()
    start = time.perf_counter()
    history = []
    for step in range(STEPS):
        out = objective(net, net(x), targets, images=x)
        opt.zero_grad()
        out.total.backward()
        opt.step()
        schedule.step()
        history.append(out.total.item())
        if step == 0:
            # every term with labels is active at the start (the priors may start at ~0: flat hands)
            active = {k for k, v in out.terms.items() if v.item() > 0}
            assert active >= {"centre", "handedness", "keypoints_2d", "bone_direction", "joints_3d", "wrist_3d",
                              "vertices_3d"}
            assert out.terms["photometric"] == 0 and out.terms["silhouette"] == 0
    elapsed = time.perf_counter() - start
    initial, final = history[0], float(np.mean(history[-5:]))
    assert np.isfinite(history).all()
    assert final < initial / 20, f"loss {initial:.1f} -> {final:.2f} in {len(history)} steps, {elapsed:.0f} s"

    net.eval()
    with torch.no_grad():
        outputs = net(x)
        hands = decode(outputs["centre"], outputs["handedness"], TorchEngine(net).parameter_reader(outputs),
                       torch.tensor(np.stack([K, K]), dtype=torch.float32), models, stride=net.stride,
                       depth_ref=net.depth_ref, score_threshold=0.3, max_hands=8)
    assert hands.batch_index.tolist().count(0) == 1 and hands.batch_index.tolist().count(1) == 2
    for b, scene_labels in enumerate(labels):
        found = (hands.batch_index == b).nonzero()[:, 0]
        for label in scene_labels:
            centre = label.keypoints_2d.mean(0)
            d = [np.linalg.norm(hands.keypoints_2d_net[i].numpy().mean(0) - centre) for i in found.tolist()]
            i = found[int(np.argmin(d))].item()
            assert ("right" if hands.is_right[i] else "left") == label.handedness
            err = np.linalg.norm(hands.keypoints_2d_net[i].numpy() - label.keypoints_2d, axis=1).mean()
            assert err < 8.0, f"mean 2D error {err:.1f} px (untrained: > 30 px)"
            wrist_err = np.linalg.norm(hands.wrist[i].numpy() - label.keypoints_3d[0])
            assert wrist_err < 0.05, f"wrist 3D error {wrist_err * 100:.1f} cm"
