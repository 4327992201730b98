"""``hand-mesh predict``: JSON + overlay PNG per image and per video frame."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.cli import app
from hand_mesh_core.cli.predict import camera_matrix
from hand_mesh_core.hand_model import KEYPOINT_NAMES
from hand_mesh_core.testing import tiny_single_stage_weights

runner = CliRunner()


def test_predict_on_an_image_writes_json_and_overlay(shared_data, tmp_path):
    image = shared_data / "images" / "hamer_test1.jpg"
    result = runner.invoke(app, ["predict", str(image), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "hamer_test1.json").read_text())
    assert data["backend"] == "two_stage" and data["keypoint_order"] == list(KEYPOINT_NAMES)
    assert data["image_size"] == {"width": 848, "height": 565}
    assert len(data["hands"]) >= 2
    for hand in data["hands"]:
        assert hand["handedness"] in ("left", "right")
        assert len(hand["vertices"]) == len(np.unique(np.asarray(data["faces"][hand["handedness"]])))
        assert 0.2 < hand["keypoints_3d"][0][2] < 3.0  # metres
    overlay = cv2.imread(str(tmp_path / "hamer_test1.png"))
    original = cv2.imread(str(image))
    assert overlay.shape == original.shape
    assert (overlay != original).any(axis=2).mean() > 0.01  # something was drawn


def test_intrinsics_options_change_the_depth(shared_data, tmp_path):
    image = shared_data / "images" / "hamer_test1.jpg"
    depths = {}
    for name, options in {"fov60": ["--fov", "60"], "fx2": ["--fx", str(2 * intrinsics_from_fov(848, 565)[0, 0])]}.items():
        out = tmp_path / name
        result = runner.invoke(app, ["predict", str(image), "--out", str(out), "--no-overlay", "--no-mesh-json", *options])
        assert result.exit_code == 0, result.output
        data = json.loads((out / "hamer_test1.json").read_text())
        assert "vertices" not in data["hands"][0] and not (out / "hamer_test1.png").exists()
        depths[name] = sorted(h["keypoints_3d"][0][2] for h in data["hands"])
    ratio = np.array(depths["fx2"]) / np.array(depths["fov60"])
    assert np.all((ratio > 1.8) & (ratio < 2.2))


def test_video_frames_are_written_per_frame(shared_data, tmp_path):
    video = shared_data / "video" / "mmaction2_demo.mp4"
    result = runner.invoke(app, ["predict", str(video), "--out", str(tmp_path), "--max-frames", "3", "--no-overlay"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert names == ["mmaction2_demo_000000.json", "mmaction2_demo_000001.json", "mmaction2_demo_000002.json"]


def test_bad_options_are_refused(shared_data, tmp_path):
    image = str(shared_data / "images" / "hamer_test1.jpg")
    for options in (["--fov", "60", "--fx", "500"], ["--cx", "10"], ["--backend", "nope"], ["--fov", "200"],
                    ["--tiles", "lots"]):
        result = runner.invoke(app, ["predict", image, "--out", str(tmp_path), *options])
        assert result.exit_code != 0, options
    assert runner.invoke(app, ["predict", str(tmp_path / "missing.jpg")]).exit_code != 0


def test_tiles_option_runs_the_tiled_predictor(shared_data, tmp_path):
    image = str(shared_data / "images" / "hamer_test1.jpg")
    result = runner.invoke(app, ["predict", image, "--out", str(tmp_path), "--tiles", "2x2", "--no-overlay"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "hamer_test1.json").read_text())
    assert data["timings"]["tiles"] == 5  # the full frame and 4 tiles


def test_camera_matrix_defaults():
    assert camera_matrix(640, 480, None, None, None, None, None) is None
    np.testing.assert_allclose(camera_matrix(640, 480, None, None, None, None, 90.0), intrinsics_from_fov(640, 480, 90.0))
    K = camera_matrix(640, 480, 500.0, None, None, 250.0, None)
    np.testing.assert_allclose(K, [[500, 0, 320], [0, 500, 250], [0, 0, 1]])
    with pytest.raises(typer.BadParameter):
        camera_matrix(640, 480, -5.0, None, None, None, None)


def test_single_stage_runtime_and_weights_options(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HAND_MESH_CACHE", str(tmp_path / "cache"))  # the ONNX export lands here
    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    image = shared_data / "images" / "hamer_test1.jpg"
    hands = {}
    for runtime in ("torch", "onnxruntime"):
        out = tmp_path / runtime
        result = runner.invoke(app, [
            "predict", str(image), "--out", str(out), "--backend", "single_stage", "--runtime", runtime,
            "--weights", str(weights), "--device", "cpu", "--score-threshold", "0", "--max-hands", "2",
            "--no-overlay", "--no-mesh-json"])
        assert result.exit_code == 0, result.output
        data = json.loads((out / "hamer_test1.json").read_text())
        assert data["backend"] == "single_stage"
        hands[runtime] = data["hands"]
    assert len(hands["torch"]) == len(hands["onnxruntime"]) == 2  # threshold 0: max_hands peaks
    for a, b in zip(hands["torch"], hands["onnxruntime"]):
        assert a["handedness"] == b["handedness"]
        np.testing.assert_allclose(a["keypoints_2d"], b["keypoints_2d"], atol=0.5)  # pixels
    assert list((tmp_path / "cache").rglob("*.onnx")), "onnxruntime ran the exported model of --weights"


def test_runtime_and_weights_are_single_stage_options(shared_data, tmp_path):
    image = str(shared_data / "images" / "hamer_test1.jpg")
    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    for options in (["--runtime", "onnxruntime"], ["--weights", str(weights)],
                    ["--backend", "single_stage", "--runtime", "openvino", "--weights", str(weights)],
                    ["--backend", "single_stage", "--weights", str(tmp_path / "missing.safetensors")]):
        result = runner.invoke(app, ["predict", image, "--out", str(tmp_path / "out"), *options])
        assert result.exit_code == 2, (options, result.output)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))


def test_tensorrt_runtime_without_tensorrt_or_cuda_fails_with_the_reason(shared_data, tmp_path):
    from hand_mesh_core.single_stage.runtimes import runtime_unavailable_reason

    reason = runtime_unavailable_reason("tensorrt", "cuda")
    if reason is None:
        pytest.skip("TensorRT and CUDA are available here: the runtime runs instead of failing")
    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    result = runner.invoke(app, [
        "predict", str(shared_data / "images" / "hamer_test1.jpg"), "--out", str(tmp_path / "out"),
        "--backend", "single_stage", "--runtime", "tensorrt", "--weights", str(weights), "--device", "cpu"])
    assert result.exit_code == 2
    assert "tensorrt" in result.output.lower() or "cuda" in result.output.lower()


def test_backend_options():
    from hand_mesh_core.cli.predict import backend_options

    assert backend_options("two_stage", "torch", None) == {}
    assert backend_options("single_stage", "onnxruntime", None) == {"runtime": "onnxruntime"}
    assert backend_options("single_stage", "torch", Path("w.safetensors")) == {"runtime": "torch",
                                                                              "weights": "w.safetensors"}
    for args in (("two_stage", "tensorrt", None), ("two_stage", "torch", Path("w")), ("single_stage", "x", None)):
        with pytest.raises(typer.BadParameter):
            backend_options(*args)
