"""Corrupt or truncated model files are refused with one line naming the file (issue 15,
defect 4): weights (safetensors), exported ONNX models, MANO pickles, the open hand model's
``.npz`` assets and MediaPipe's ``.tflite`` files; a corrupt cached ONNX model is exported
again; every ``hand-mesh`` verb turns a refusal into one stderr line and exit status 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hand_mesh_core.hand_model.mano_loader import load_mano
from hand_mesh_core.hand_model.open_model import load_open_model, open_model_path
from hand_mesh_core.model_files import ModelFileError
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.testing import tiny_single_stage_weights

GARBAGE = bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def _check(exc: pytest.ExceptionInfo, path: Path) -> None:
    text = str(exc.value)
    assert isinstance(exc.value, ValueError)  # documented: ModelFileError subclasses ValueError
    assert str(path) in text and "\n" not in text and len(text) < 600, text


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    return tiny_single_stage_weights(tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "huge header"])
def test_corrupt_weights_are_refused_naming_the_file(damage, tiny_weights, tmp_path):
    path = tmp_path / f"{damage.replace(' ', '_')}.safetensors"
    if damage == "garbage":
        path.write_bytes(GARBAGE)
    elif damage == "truncated":
        _truncated(tiny_weights, path)
    else:  # a header length of 2**63: safetensors' "header too large"
        path.write_bytes((2**63).to_bytes(8, "little") + b"{}")
    with pytest.raises(ModelFileError) as exc:
        SingleStageNet.load(path)
    _check(exc, path)
    from hand_mesh_core import create_predictor

    with pytest.raises(ModelFileError) as exc:
        create_predictor("single_stage", weights=path, device="cpu")
    _check(exc, path)


def test_corrupt_onnx_is_refused_and_a_corrupt_cached_one_exported_again(tiny_weights, tmp_path):
    from hand_mesh_core.single_stage.runtimes.onnx_export import cached_onnx_path, export_weights, read_onnx_info

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(GARBAGE)
    with pytest.raises(ModelFileError) as exc:
        read_onnx_info(bad)
    _check(exc, bad)
    cache = tmp_path / "cache"
    cached = cached_onnx_path(tiny_weights, cache)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GARBAGE[:100])  # e.g. a disk that filled up mid-write
    path = export_weights(tiny_weights, cache_dir=cache)
    assert path == cached and read_onnx_info(path).input_size > 0  # rebuilt, usable


@pytest.mark.parametrize("content", [b"\x80\x04\x8e" + b"\xff" * 8, b"\x80\x02}q\x00(X\x01", GARBAGE])
def test_corrupt_mano_pickles_are_refused_naming_the_file(content, tmp_path):
    # BINBYTES8 with a 2**64-1 length raised OverflowError straight out of pickle before
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(content)
    with pytest.raises(ModelFileError) as exc:
        load_mano(path, "right")
    _check(exc, path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_open_hand_model_is_refused_naming_the_file(damage, tmp_path):
    path = tmp_path / "open_hand_right.npz"
    if damage == "garbage":
        path.write_bytes(GARBAGE)
    else:
        _truncated(open_model_path("right"), path)
    with pytest.raises(ModelFileError) as exc:
        load_open_model("right", path)
    _check(exc, path)


def _mediapipe_copy(tmp_path: Path, damage) -> tuple[Path, list[Path]]:
    from hand_mesh_core.two_stage.landmarker import bundle_sources

    root = tmp_path / "mediapipe"
    files = []
    for src in bundle_sources():
        rel = src.relative_to(bundle_sources()[0].parents[2])
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(damage(src.read_bytes()))
        files.append(dst)
    return root, files


def test_corrupt_mediapipe_models_are_refused_naming_the_file(tmp_path):
    pytest.importorskip("mediapipe")
    from hand_mesh_core.two_stage.landmarker import HandLandmarker

    # not a flatbuffer at all: refused before MediaPipe sees it, naming the file
    root, files = _mediapipe_copy(tmp_path / "a", lambda data: GARBAGE)
    with pytest.raises(ModelFileError) as exc:
        HandLandmarker(model_root=root)
    _check(exc, files[0])
    # right identifier, body cut: MediaPipe's own refusal, naming both files of the bundle
    root, files = _mediapipe_copy(tmp_path / "b", lambda data: data[:2000])
    with pytest.raises(ModelFileError) as exc:
        HandLandmarker(model_root=root)
    _check(exc, files[0])


@pytest.mark.slow
def test_hand_mesh_verbs_refuse_a_corrupt_file_in_one_line_with_status_2(tmp_path, shared_data):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(GARBAGE)
    image = shared_data / "images" / "hamer_test3.jpg"
    verbs = {
        "predict": ["predict", str(image), "--backend", "single_stage", "--weights", str(bad), "--device", "cpu",
                    "--out", str(tmp_path / "out")],
        "export": ["export", str(bad), "--out", str(tmp_path / "x.onnx")],
        "eval": ["eval", "--backends", "single_stage", "--weights", str(bad), "--device", "cpu",
                 "--out", str(tmp_path / "eval")],
    }
    for verb, args in verbs.items():
        t0 = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "hand_mesh_core.cli", *args], capture_output=True, text=True,
                             timeout=120)
        seconds = time.monotonic() - t0
        lines = [line for line in run.stderr.splitlines() if str(bad) in line]
        assert run.returncode == 2, (verb, run.returncode, run.stderr[-2000:])
        assert "Traceback" not in run.stderr, (verb, run.stderr[-2000:])
        assert len(lines) == 1 and "not a usable" in lines[0], (verb, run.stderr[-2000:])
        assert seconds < 30.0, (verb, seconds)
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
