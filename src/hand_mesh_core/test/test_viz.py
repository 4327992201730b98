"""viz: painter's-algorithm mesh rendering, skeletons, labels, hands over images, contact sheets."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hand_mesh_core.bench.hand_model_sheet import view_orient
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.hand_model import HandModel, mirror_pose, named_pose
from hand_mesh_core.viz import (
    FINGER_COLORS,
    HAND_COLORS,
    contact_sheet,
    draw_hands,
    draw_skeleton,
    render_mesh,
)

W, H = 160, 120
K = intrinsics_from_fov(W, H)


def _square(z: float, half: float = 0.05, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A camera-facing square (two triangles) at depth z, centred on the optical axis."""
    v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    # counter-clockwise seen from the camera (outward normal towards -z): 0, 3, 2 / 0, 2, 1
    f = np.array([[0, 3, 2], [0, 2, 1]])
    return v, (f[:, ::-1] if flip else f)


def test_facing_square_is_filled_and_back_faces_are_culled():
    v, f = _square(0.5)
    img = render_mesh(v, f, K, (W, H), color=(200, 100, 50))
    uv = project_np(v, K)
    x0, y0 = np.ceil(uv.min(0)).astype(int) + 1
    x1, y1 = np.floor(uv.max(0)).astype(int) - 1
    inside = img[y0:y1, x0:x1].reshape(-1, 3)
    assert (inside == inside[0]).all() and inside[0, 0] > 150  # one flat, lit colour
    top, bottom = int(np.floor(uv[:, 1].min())) - 1, int(np.ceil(uv[:, 1].max())) + 1
    assert (img[:top] == 0).all() and (img[bottom + 1:] == 0).all()  # background (1 px anti-aliasing)
    back = render_mesh(*_square(0.5, flip=True), K, (W, H))
    assert (back == 0).all()


def test_oblique_faces_are_darker_and_nearer_faces_win():
    v, f = _square(0.5)
    lit = render_mesh(v, f, K, (W, H))[H // 2, W // 2]
    tilt = np.radians(60)
    rot = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])
    oblique = render_mesh((v - [0, 0, 0.5]) @ rot.T + [0, 0, 0.5], f, K, (W, H))[H // 2, W // 2]
    assert oblique.sum() < lit.sum() and oblique.sum() > 0
    near_v, near_f = _square(0.4, half=0.02)
    near = SimpleNamespace(handedness="right", score=1.0, vertices=near_v, keypoints_2d=None)
    far = SimpleNamespace(handedness="left", score=1.0, vertices=v, keypoints_2d=None)
    faces = {"right": near_f, "left": f}
    blank = np.zeros((H, W, 3), np.uint8)
    images = [draw_hands(blank, hands, K, faces, skeleton=False, label=False, alpha=1.0)
              for hands in ([near, far], [far, near])]
    assert np.array_equal(images[0], images[1])  # depth order, not input order, decides
    centre = images[0][H // 2, W // 2].astype(int)
    edge = images[0][H // 2, int(project_np(v, K)[1, 0]) - 3].astype(int)
    assert np.argmax(centre) == np.argmax(HAND_COLORS["right"])  # near (right, blue) square in front
    assert np.argmax(edge) == np.argmax(HAND_COLORS["left"])  # far (left, orange) square around it


def _hand_result(side: str, model: HandModel, pose_name: str = "relaxed") -> SimpleNamespace:
    go = view_orient(0.0, 0.0)
    if side == "left":
        go = mirror_pose(go)
    with torch.no_grad():
        out = model(global_orient=go, hand_pose=named_pose(pose_name, side),
                    transl=torch.tensor([[0.12 if side == "left" else -0.12, 0.05, 0.55]], dtype=torch.float64))
    kp3 = out.keypoints[0].numpy()
    kp2 = project_np(kp3, K640)
    return SimpleNamespace(handedness=side, score=0.93, vertices=out.vertices[0].numpy(), keypoints_3d=kp3,
                           keypoints_2d=kp2, bbox=np.r_[kp2.min(0), kp2.max(0)], track_id=3, keypoint_scores=None)


K640 = intrinsics_from_fov(640, 480)


def test_draw_hands_colours_sides_draws_skeleton_and_keeps_input():
    image = np.full((480, 640, 3), 30, np.uint8)
    models = {s: HandModel(s, dtype=torch.float64) for s in ("left", "right")}
    hands = [_hand_result("right", models["right"]), _hand_result("left", models["left"])]
    out = draw_hands(image, hands, K640, alpha=1.0)
    assert (image == 30).all()  # input untouched
    for hand in hands:  # the mesh colour dominates the palm area of each hand
        palm = hand.keypoints_2d[[0, 5, 9, 13, 17]].mean(0).round().astype(int)
        patch = out[palm[1] - 3: palm[1] + 4, palm[0] - 3: palm[0] + 4].reshape(-1, 3).astype(int)
        color = np.array(HAND_COLORS[hand.handedness])
        cos = (patch @ color) / (np.linalg.norm(patch, axis=1) * np.linalg.norm(color) + 1e-9)
        assert np.median(cos) > 0.97, hand.handedness
    # skeleton: the index fingertip pixel has the index colour
    tip = hands[0].keypoints_2d[8].round().astype(int)
    assert tuple(out[tip[1], tip[0]]) == FINGER_COLORS[1]
    # label box above the bbox, in the hand's colour
    box = hands[0].bbox.astype(int)
    assert (out[box[1] - 6, box[0] + 2] == HAND_COLORS["right"]).all()
    # mesh only, no faces available for an unknown vertex count: skeleton still drawn
    odd = SimpleNamespace(handedness="right", score=0.5, vertices=np.zeros((5, 3)), keypoints_2d=hands[0].keypoints_2d)
    assert (draw_hands(image, [odd], K640, label=False) != image).any()


def test_prediction_plot_uses_draw_hands():
    from hand_mesh_core.results import HandResult, Prediction

    model = HandModel("right", dtype=torch.float64)
    h = _hand_result("right", model)
    res = HandResult(handedness="right", handedness_score=0.9, score=0.8, bbox=h.bbox, keypoints_2d=h.keypoints_2d,
                     keypoints_3d=h.keypoints_3d, vertices=h.vertices, pose=np.zeros(48), shape=np.zeros(10),
                     transl=np.zeros(3))
    pred = Prediction([res], image_size=(640, 480), K=K640, backend="test", hand_model=model.name,
                      faces={"right": model.faces.numpy()})
    image = np.zeros((480, 640, 3), np.uint8)
    assert np.array_equal(pred.plot(image), draw_hands(image, [res], K640, {"right": model.faces.numpy()}))


def test_draw_skeleton_skips_low_scores_and_checks_shape():
    kp = np.stack([np.linspace(10, 150, 21), np.linspace(10, 110, 21)], axis=1)
    scores = np.ones(21)
    scores[8] = 0.1
    img = draw_skeleton(np.zeros((H, W, 3), np.uint8), kp, scores, min_score=0.5)
    x, y = kp[8].round().astype(int)
    assert tuple(img[y, x]) != FINGER_COLORS[1]  # its index-coloured dot is not drawn
    x7, y7 = kp[7].round().astype(int)
    assert tuple(img[y7, x7]) == FINGER_COLORS[1]
    with pytest.raises(ValueError):
        draw_skeleton(np.zeros((H, W, 3), np.uint8), kp[:20])


def test_contact_sheet_layout_and_labels():
    a = np.full((40, 60, 3), 200, np.uint8)
    b = np.full((20, 30, 3), 100, np.uint8)
    sheet = contact_sheet([a, b, a], cols=2, labels=["a", "", "c"], pad=4)
    assert sheet.shape == (2 * (40 + 4) + 4, 2 * (60 + 4) + 4, 3)
    # b is centred in its cell
    assert (sheet[4 + 20, 4 + 64 + 30] == 100).all() and (sheet[4 + 2, 4 + 64 + 2] == 32).all()
    assert (sheet[4 + 30, 4 + 30] == 200).all()
    with pytest.raises(ValueError):
        contact_sheet([a], cols=0)
    with pytest.raises(ValueError):
        contact_sheet([a, b], cols=2, labels=["x"])
    with pytest.raises(ValueError):
        contact_sheet([], cols=1)


def test_bad_inputs_raise():
    v, f = _square(0.5)
    with pytest.raises(ValueError):
        render_mesh(v[:, :2], f, K, (W, H))
    with pytest.raises(ValueError):
        render_mesh(v, f, K, (W, H), image=np.zeros((H + 1, W, 3), np.uint8))
    with pytest.raises(ValueError):
        draw_hands(np.zeros((H, W), np.uint8), [])
