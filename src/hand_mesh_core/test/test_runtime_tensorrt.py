"""TensorRT runtime: the engine cache key (tested everywhere), clear errors without TensorRT
or CUDA, and, where both exist, an fp16 engine that agrees with PyTorch and is reused from
the cache."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hand_mesh_core import create_predictor
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.single_stage.runtimes import artefact_cache as cache, runtime_unavailable_reason
from hand_mesh_core.single_stage.runtimes.onnx_export import export_weights, max_abs_difference
from hand_mesh_core.single_stage.runtimes.tensorrt_engine import EngineKey, TensorRTEngine, engine_cache_key, engine_cache_path

TRT_UNAVAILABLE = runtime_unavailable_reason("tensorrt", "cuda")

KEY = EngineKey(onnx_sha256="a" * 64, gpu_name="NVIDIA Jetson Orin", compute_capability="8.7",
                tensorrt_version="10.3.0", precision="fp16", max_batch=8)


def test_cache_key_is_stable_and_changes_with_every_input(tmp_path):
    assert engine_cache_key(KEY) == engine_cache_key(dataclasses.replace(KEY))
    variants = {
        "onnx_sha256": "b" * 64,
        "gpu_name": "NVIDIA GeForce RTX 4090",
        "compute_capability": "8.9",
        "tensorrt_version": "10.7.0",
        "precision": "fp32",
        "max_batch": 4,
    }
    keys = {engine_cache_key(dataclasses.replace(KEY, **{field: value})) for field, value in variants.items()}
    assert len(keys) == len(variants) and engine_cache_key(KEY) not in keys
    path = engine_cache_path(tmp_path / "model-0123.onnx", KEY, tmp_path / "engines")
    assert path.parent == tmp_path / "engines" and path.suffix == ".engine"
    assert path.stem == f"model-0123-{engine_cache_key(KEY)[:16]}"
    other_gpu = engine_cache_path(tmp_path / "model-0123.onnx", dataclasses.replace(KEY, gpu_name="x"), tmp_path)
    assert other_gpu.name != path.name


def test_default_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    assert cache.default_cache_dir() == tmp_path / "c"
    assert engine_cache_path("m.onnx", KEY).parent == tmp_path / "c" / "tensorrt"
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "hand_mesh"


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "sub" / "entry.bin"

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        cache.write_atomically(target, fail)
    assert list(target.parent.iterdir()) == []
    cache.write_atomically(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert len(list(target.parent.iterdir())) == 1


def test_tensorrt_needs_a_cuda_device(tmp_path):
    with pytest.raises(ValueError, match="CUDA device"):
        TensorRTEngine(tmp_path / "m.onnx", device="cpu")


@pytest.mark.skipif(TRT_UNAVAILABLE is None, reason="TensorRT and CUDA are available here")
def test_missing_tensorrt_or_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="tensorrt|CUDA"):
        TensorRTEngine(tmp_path / "m.onnx", device="cuda")
    assert "tensorrt" in TRT_UNAVAILABLE or "CUDA" in TRT_UNAVAILABLE


@pytest.mark.skipif(TRT_UNAVAILABLE is not None, reason=f"TensorRT runtime unavailable: {TRT_UNAVAILABLE}")
def test_tensorrt_engine_agrees_with_pytorch_and_is_cached(tmp_path):
    torch.manual_seed(0)
    net = SingleStageNet("single_stage_palm").eval()
    weights = tmp_path / "w.safetensors"
    net.save(weights)
    onnx_path = export_weights(weights, cache_dir=tmp_path / "onnx")
    engine = TensorRTEngine(onnx_path, device="cuda", cache_dir=tmp_path / "trt", max_batch=4)
    assert engine.built and engine.engine_path.is_file()
    batch = torch.rand(6, 3, net.input_size, net.input_size, generator=torch.Generator().manual_seed(1))
    outputs = engine(batch.cuda())  # 6 > max_batch: runs in two chunks
    torch.cuda.synchronize()
    diff = max_abs_difference(net, {k: v.cpu() for k, v in outputs.items()}, batch)
    assert max(diff.values()) <= (5e-2 if engine.precision == "fp16" else 1e-3), diff
    again = TensorRTEngine(onnx_path, device="cuda", cache_dir=tmp_path / "trt", max_batch=4)
    assert not again.built and again.engine_path == engine.engine_path
    predictor = create_predictor("single_stage", device="cuda", weights=weights, runtime="tensorrt",
                                 runtime_options={"cache_dir": tmp_path / "trt"}, score_threshold=0.05)
    assert predictor.engine.runtime == "tensorrt"
    image = (torch.rand(240, 320, 3, generator=torch.Generator().manual_seed(2)) * 255).byte().numpy()
    assert len(predictor.predict(image)) >= 1


@pytest.mark.skipif(TRT_UNAVAILABLE is not None, reason=f"TensorRT runtime unavailable: {TRT_UNAVAILABLE}")
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_cached_engine_is_rebuilt(damage, tmp_path):
    torch.manual_seed(0)
    net = SingleStageNet("single_stage_palm").eval()
    weights = tmp_path / "w.safetensors"
    net.save(weights)
    onnx_path = export_weights(weights, cache_dir=tmp_path / "onnx")
    engine = TensorRTEngine(onnx_path, device="cuda", cache_dir=tmp_path / "trt", max_batch=1)
    plan = engine.engine_path.read_bytes()
    engine.engine_path.write_bytes(plan[: len(plan) // 2] if damage == "truncated" else b"\x00" * 4096)
    again = TensorRTEngine(onnx_path, device="cuda", cache_dir=tmp_path / "trt", max_batch=1)
    assert again.built and again.engine_path == engine.engine_path and again.engine_path.stat().st_size > 4096
    outputs = again(torch.rand(1, 3, net.input_size, net.input_size).cuda())
    assert torch.isfinite(outputs["centre"]).all()
