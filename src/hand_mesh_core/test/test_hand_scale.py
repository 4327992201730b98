"""The real validation subset (ge_realworld) and the hand-scale benchmark (frames pasted small)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hand_mesh_core.bench.hand_scale import CANVAS_GREY, paste_sample, pasted_samples
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.data.sample import HandLabel, Sample


def _sample() -> tuple[Sample, np.ndarray]:
    rng = np.random.default_rng(0)
    K = intrinsics_from_fov(200, 160)
    kp3d = np.column_stack([rng.uniform(-0.04, 0.04, (21, 2)), rng.uniform(0.35, 0.45, 21)])
    kp2d = project_np(kp3d, K).astype(np.float32)
    image = np.zeros((160, 200, 3), np.uint8)
    image[40:60, 80:120] = (255, 0, 0)  # a red block: corners (80, 40) and (120, 60)
    hand = HandLabel(keypoints_2d=kp2d, valid=np.ones(21, bool), visibility=np.ones(21, bool), handedness="right",
                     keypoints_3d=kp3d.astype(np.float32), bbox=np.array([10.0, 20.0, 150.0, 140.0]))
    return Sample(hands=[hand], image=image, K=K, all_hands_labelled=True, sample_id="s"), kp3d


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_pasted_labels_pixels_and_intrinsics_move_together(scale):
    sample, kp3d = _sample()
    out = paste_sample(sample, (640, 480), scale, np.random.default_rng(3))
    image = out.load_image()
    assert image.shape == (480, 640, 3) and out.image_size == (640, 480)
    hand = out.hands[0]
    # the 3D labels are unchanged and project through K' onto the moved 2D labels
    np.testing.assert_array_equal(hand.keypoints_3d, sample.hands[0].keypoints_3d)
    np.testing.assert_allclose(project_np(kp3d, out.K), hand.keypoints_2d, atol=1e-3)
    assert out.K[0, 0] == pytest.approx(scale * sample.K[0, 0]) and out.K[1, 1] == pytest.approx(scale * sample.K[1, 1])
    # the red block moved like the labels: its corners are where K' and the offset put them
    ox, oy = out.K[0, 2] - scale * sample.K[0, 2], out.K[1, 2] - scale * sample.K[1, 2]
    ys, xs = np.nonzero((image[..., 0] > 128) & (image[..., 1] < 100))
    assert xs.min() == pytest.approx(ox + scale * 80, abs=1.0) and xs.max() + 1 == pytest.approx(ox + scale * 120, abs=1.0)
    assert ys.min() == pytest.approx(oy + scale * 40, abs=1.0)
    np.testing.assert_allclose(hand.bbox, sample.hands[0].bbox * scale + [ox, oy, ox, oy], atol=1e-6)
    # the rest of the canvas is grey
    assert (image[0, 0] == CANVAS_GREY).all() or (image[-1, -1] == CANVAS_GREY).all()
    assert hand.handedness == "right" and out.all_hands_labelled


def test_paste_positions_are_seeded_and_bad_requests_refused():
    sample, _ = _sample()
    a = [s.K for s in pasted_samples([sample, sample], (640, 480), 0.5, seed=1)]
    b = [s.K for s in pasted_samples([sample, sample], (640, 480), 0.5, seed=1)]
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1])  # each index its own place
    with pytest.raises(ValueError, match="does not fit"):
        paste_sample(sample, (100, 100), 1.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale"):
        paste_sample(sample, (640, 480), 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no K"):
        paste_sample(Sample(hands=[], image=np.zeros((8, 8, 3), np.uint8)), (640, 480), 1.0, np.random.default_rng(0))


def test_the_validation_subset_is_read_with_3d_labels_intrinsics_and_its_geometric_side(shared_data):
    from hand_mesh_core.data.readers.mmpose_coco import read_validation_subset

    reader = read_validation_subset(shared_data / "validation", "ge_realworld")
    assert len(reader) == 300
    left_chirality = 0
    for i in range(0, 300, 15):
        s = reader[i]
        assert s.K is not None and s.all_hands_labelled and len(s.hands) == 1
        hand = s.hands[0]
        assert hand.handedness == "left" and hand.keypoints_3d is not None
        # the metres of joint_cam seen through cam_param land on the 2D labels
        assert np.abs(project_np(hand.keypoints_3d.astype(np.float64), s.K) - hand.keypoints_2d).max() < 1.0
        k = hand.keypoints_3d
        left_chirality += np.dot(np.cross(k[5] - k[0], k[17] - k[0]), k[2] - k[0]) < 0
    assert left_chirality == 20  # the left hand model's sign (see VALIDATION_SUBSETS)
    with pytest.raises(ValueError, match="unknown validation subset"):
        read_validation_subset(shared_data / "validation", "nope")


def test_open_hand_model_chirality_signs_used_for_the_validation_side():
    from hand_mesh_core.hand_model import HandModel

    for side, sign in (("right", 1.0), ("left", -1.0)):
        k = HandModel(side=side)().keypoints[0].detach().numpy()
        assert np.sign(np.dot(np.cross(k[5] - k[0], k[17] - k[0]), k[2] - k[0])) == sign


def test_hand_scale_cli_writes_its_table(shared_data, tmp_path):
    from hand_mesh_core.bench.hand_scale import main
    import typer

    app = typer.Typer()
    app.command()(main)
    res = CliRunner().invoke(app, ["--backends", "single_stage,no_such_backend", "--limit", "3", "--scales", "1,0.5",
                                   "--out", str(tmp_path), "--data", str(shared_data)])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "hand_scale.json").read_text())
    assert [r["scale"] for r in data["rows"]] == [1.0, 0.5]
    assert all(r["images"] == 3 and r["hands"] == 3 for r in data["rows"])
    assert data["rows"][1]["hand_px"] == pytest.approx(0.5 * data["rows"][0]["hand_px"])
    assert "no_such_backend" in data["unavailable"]
    assert "| single_stage | off | 0.5 |" in (tmp_path / "hand_scale.md").read_text()
    assert (tmp_path / "hand_scale.png").stat().st_size > 1000
    # real photos as backgrounds and two tiles policies: a row per (policy, scale), no precision
    res = CliRunner().invoke(app, ["--backends", "single_stage", "--limit", "2", "--scales", "0.5",
                                   "--tiles", "off,2x2", "--backgrounds", "default", "--canvas", "1280x720",
                                   "--out", str(tmp_path / "photos"), "--data", str(shared_data)])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "photos" / "hand_scale.json").read_text())["rows"]
    assert [(r["tiles"], r["scale"]) for r in rows] == [("off", 0.5), ("2x2", 0.5)]
    assert all(r["precision"] is None for r in rows)
    res = CliRunner().invoke(app, ["--subset", "nope", "--out", str(tmp_path), "--data", str(shared_data)])
    assert res.exit_code == 2 and "unknown annotated subset" in res.output


def test_fit_background_crops_to_the_canvas_aspect():
    from hand_mesh_core.bench.hand_scale import fit_background

    wide = np.zeros((100, 400, 3), np.uint8)
    wide[:, 150:250] = 255  # the middle quarter
    out = fit_background(wide, (200, 100))
    assert out.shape == (100, 200, 3)
    assert out[:, 0].max() == 0 and out[:, 100].min() == 255  # sides cropped, not squeezed


def test_paste_into_a_real_background_keeps_it_around_the_frame_and_leaves_it_untouched():
    sample, _ = _sample()
    background = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    before = background.copy()
    out = paste_sample(sample, (640, 480), 0.5, np.random.default_rng(2), background=background)
    np.testing.assert_array_equal(background, before)
    image = out.load_image()
    ox, oy = int(round(out.K[0, 2] - 0.5 * sample.K[0, 2])), int(round(out.K[1, 2] - 0.5 * sample.K[1, 2]))
    outside = np.ones((480, 640), bool)
    outside[oy : oy + 80, ox : ox + 100] = False
    np.testing.assert_array_equal(image[outside], background[outside])
    with pytest.raises(ValueError, match="background"):
        paste_sample(sample, (640, 480), 0.5, np.random.default_rng(2), background=background[:10])
