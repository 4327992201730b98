"""Scoring of predictions against labels (hand-computed expectations) and ``hand-mesh eval``."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hand_mesh_core.data.readers.mmpose_coco import read_annotated_subset
from hand_mesh_core.evaluation.benchmark import SubsetScores, score_image
from hand_mesh_core.results import HandResult


def _result(keypoints_2d, keypoints_3d=None, handedness="right"):
    kp2 = np.asarray(keypoints_2d, np.float32)
    kp3 = np.zeros((21, 3), np.float32) if keypoints_3d is None else keypoints_3d
    lo, hi = kp2.min(0), kp2.max(0)
    return HandResult(
        handedness=handedness, handedness_score=1.0, score=1.0, bbox=np.r_[lo, hi], keypoints_2d=kp2,
        keypoints_3d=kp3, vertices=np.zeros((0, 3)), pose=np.zeros(48), shape=np.zeros(10), transl=np.zeros(3),
    )


@pytest.fixture(scope="module")
def rhd(shared_data):
    return list(read_annotated_subset(shared_data / "annotated", "rhd"))


def test_perfect_prediction_scores_perfectly(rhd):
    scores = SubsetScores()
    for s in rhd:
        gt = s.hands[0]
        score_image(s, [_result(gt.keypoints_2d, gt.keypoints_3d, gt.handedness)], scores)
    out = scores.summary()
    assert out["recall"] == 1.0 and out["pck@0.2"] == 1.0 and out["handedness_accuracy"] == 1.0
    assert out["norm_2d_error"] == pytest.approx(0.0, abs=1e-6)
    assert out["rr_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3) and out["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert out["depth_error_pct"] == pytest.approx(0.0, abs=1e-4)
    assert out["precision"] is None  # RHD subset: not every hand is labelled


def test_shifted_prediction_errors_are_the_shift(rhd):
    s = rhd[0]
    gt = s.hands[0]
    size = gt.box_size()
    for shift, pck, matched in ((0.1, 1.0, True), (0.3, 0.0, True), (0.6, None, False)):
        scores = SubsetScores()
        kp = gt.keypoints_2d + np.array([shift * size, 0.0])  # every keypoint `shift` hand sizes off
        pairs = score_image(s, [_result(kp, gt.keypoints_3d, handedness="left" if gt.handedness == "right" else "right")], scores)
        out = scores.summary()
        assert (pairs == [(0, 0)]) == matched
        assert out["recall"] == (1.0 if matched else 0.0)
        if matched:
            assert out["norm_2d_error"] == pytest.approx(shift, rel=1e-4)
            assert out["pck@0.2"] == pck
            assert out["handedness_accuracy"] == 0.0  # the wrong side was predicted
        else:
            assert out["pck@0.2"] is None


def test_3d_scores_of_a_hand_scaled_about_the_camera(rhd):
    # pred = 1.1 * gt (all points): root-relative error = 0.1 * |gt_k - gt_wrist| per joint,
    # PA-MPJPE 0 (a similarity), wrist depth 10 % too far.
    s = rhd[1]
    gt = s.hands[0]
    g3 = gt.keypoints_3d.astype(np.float64)
    scores = SubsetScores()
    score_image(s, [_result(gt.keypoints_2d, (1.1 * g3).astype(np.float32), gt.handedness)], scores)
    out = scores.summary()
    expected = 1000 * 0.1 * np.linalg.norm(g3 - g3[0], axis=1).mean()
    assert out["rr_mpjpe_mm"] == pytest.approx(expected, rel=1e-4)
    assert out["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert out["depth_error_pct"] == pytest.approx(10.0, rel=1e-4)


def test_precision_counts_false_positives_where_all_hands_are_labelled(shared_data):
    s = read_annotated_subset(shared_data / "annotated", "freihand")[0]
    gt = s.hands[0]
    far = gt.keypoints_2d + 3 * gt.box_size()  # nowhere near the hand
    scores = SubsetScores()
    score_image(s, [_result(gt.keypoints_2d), _result(far)], scores)
    assert scores.summary()["recall"] == 1.0 and scores.summary()["precision"] == 0.5
    scores = SubsetScores()
    score_image(s, [], scores)
    assert scores.summary()["recall"] == 0.0 and scores.summary()["precision"] is None


def test_eval_cli_reports_an_unavailable_backend(shared_data, tmp_path):
    from hand_mesh_core.cli import app

    res = CliRunner().invoke(app, ["eval", "--backends", "no_such_backend", "--subsets", "rhd",
                                   "--data", str(shared_data / "annotated"), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "no_such_backend`: unavailable (ValueError: unknown backend" in res.output
    data = json.loads((tmp_path / "eval.json").read_text())
    assert data["subsets"] == ["rhd"] and "no_such_backend" in data["unavailable"]
    assert (tmp_path / "eval.md").read_text().startswith("| subset | backend |")
    res = CliRunner().invoke(app, ["eval", "--backends", "two_stage", "--subsets", "nope",
                                   "--data", str(shared_data / "annotated"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown annotated subset" in res.output


def test_eval_cli_end_to_end_with_the_two_stage_backend(shared_data, tmp_path):
    pytest.importorskip("mediapipe", reason="the two_stage backend needs mediapipe")
    from hand_mesh_core.cli import app

    res = CliRunner().invoke(app, ["eval", "--backends", "two_stage", "--subsets", "rhd", "--device", "cpu",
                                   "--data", str(shared_data / "annotated"), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "| rhd | two_stage |" in res.output
    rhd = json.loads((tmp_path / "eval.json").read_text())["scores"]["two_stage"]["rhd"]
    assert rhd["images"] == 3 and rhd["hands"] == 3 and rhd["recall"] > 0
    # a working reference pipeline: most keypoints within 20 % of the hand size, metric depth
    assert rhd["pck@0.2"] > 0.5
    assert 0 <= rhd["depth_error_pct"] < 50 and 0 < rhd["pa_mpjpe_mm"] < 50


def test_eval_cli_scores_the_weights_file_it_is_given(shared_data, tmp_path):
    from hand_mesh_core.cli import app
    from hand_mesh_core.testing import tiny_single_stage_weights

    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    args = ["eval", "--backends", "single_stage", "--subsets", "rhd", "--device", "cpu",
            "--data", str(shared_data / "annotated"), "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, [*args, "--weights", str(weights)])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert "single_stage" not in data["unavailable"]  # the given file loaded, whatever is shipped
    assert data["scores"]["single_stage"]["rhd"]["images"] == 3
    res = CliRunner().invoke(app, [*args, "--weights", str(tmp_path / "missing.safetensors")])
    assert res.exit_code == 2 and "no such file" in res.output
