"""ONNX export and the ONNX Runtime engine: interface, parity with PyTorch on real images,
identical predictions through ``create_predictor(..., runtime="onnxruntime")``, the export
cache, and clear errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from hand_mesh_core import create_predictor
from hand_mesh_core.media import list_images, load_rgb
from hand_mesh_core.single_stage import backend as single_stage
from hand_mesh_core.network.backbones import available_backbones
from hand_mesh_core.network.config import load_config
from hand_mesh_core.network.letterbox import letterbox_image
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.single_stage.runtimes import create_engine, runtime_unavailable_reason
from hand_mesh_core.single_stage.runtimes.onnx_export import (
    INPUT_NAME,
    cached_onnx_path,
    export_onnx,
    export_weights,
    max_abs_difference,
    output_names,
    read_onnx_info,
)
from hand_mesh_core.single_stage.runtimes.onnxruntime_engine import OnnxRuntimeEngine, providers_for

TRAINED = single_stage.DEFAULT_WEIGHTS.is_file()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The shipped trained weights when they exist; until then the light default network
    (palm backbone with MediaPipe's real-image features, heads at their initialisation)."""
    if TRAINED:
        return single_stage.DEFAULT_WEIGHTS
    torch.manual_seed(0)
    config = "single_stage_palm" if "palm" in available_backbones() else "single_stage_resnet18"
    path = tmp_path_factory.mktemp("weights") / "untrained.safetensors"
    SingleStageNet(config).save(path)
    return path


@pytest.fixture(scope="module")
def onnx_path(weights, tmp_path_factory):
    return export_weights(weights, cache_dir=tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def net(weights):
    return SingleStageNet.load(weights).eval()


def _letterboxed_batch(folder, size):
    images = [load_rgb(p) for p in list_images(folder)]
    canvases = [letterbox_image(im, size)[0] for im in images]
    return torch.from_numpy(np.stack(canvases)).permute(0, 3, 1, 2).float() / 255.0


def test_exported_model_describes_itself(onnx_path, net):
    info = read_onnx_info(onnx_path)
    assert info.input_size == net.input_size and info.stride == net.stride == 4
    assert info.depth_ref == pytest.approx(net.depth_ref, rel=1e-12)
    assert info.nms_kernel == net.config.decoding.nms_kernel and info.hand_model == net.config.model.hand_model
    assert info.opset >= 17 and len(info.weights_sha256) == 64
    assert "backbone" in info.config_yaml
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert [o.name for o in model.graph.output] == list(output_names(net)) == list(info.outputs)
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch"  # dynamic batch
        assert [d.dim_value for d in dims[1:]][-2:] in ([net.input_size] * 2, [net.input_size // 4] * 2)


def test_onnxruntime_outputs_match_pytorch_on_real_images(shared_data, onnx_path, net):
    batch = _letterboxed_batch(shared_data / "images", net.input_size)
    assert batch.shape[0] >= 5  # one batch of all images: the batch dimension is dynamic
    engine = OnnxRuntimeEngine(onnx_path, device="cpu")
    outputs = engine(batch)
    side = net.input_size // 4
    expected = {
        "centre": (batch.shape[0], 1, side, side),
        "handedness": (batch.shape[0], 2, side, side),
        "params": (batch.shape[0], 122, side, side),
    }
    if net.heads.keypoints is not None:  # weights with the keypoint heatmap head export it too
        expected["keypoint_heatmaps"] = (batch.shape[0], 21, side, side)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == expected
    diff = max_abs_difference(net, outputs, batch)
    assert max(diff.values()) <= 1e-3, diff
    # the dense parameter map at a cell equals PyTorch's per-peak head there
    cells = torch.tensor([[3, 5], [net.input_size // 8, net.input_size // 8], [0, net.input_size // 4 - 1]])
    b = torch.tensor([0, 1, 2])
    with torch.no_grad():
        features = net(batch[:3])["features"]
        at_peaks = net.parameters_at(features, b, cells)
    dense = outputs["params"][b, :, cells[:, 0], cells[:, 1]]
    assert torch.allclose(dense, at_peaks, atol=1e-3)


def test_onnxruntime_predictions_equal_pytorch_predictions(shared_data, weights, onnx_path):
    # untrained heads score every cell about 0.1: a low threshold decodes hands from them
    options = dict(device="cpu", weights=weights, max_hands=8, score_threshold=0.5 if TRAINED else 0.05)
    reference = create_predictor("single_stage", runtime="torch", **options)
    candidate = create_predictor("single_stage", runtime="onnxruntime", onnx=onnx_path, **options)
    assert candidate.engine.runtime == "onnxruntime" and reference.engine.runtime == "torch"
    compared = 0
    for path in list_images(shared_data / "images"):
        image = load_rgb(path)
        a, b = reference.predict(image), candidate.predict(image)
        assert len(a) == len(b), path.name
        for ha, hb in zip(a, b):
            assert ha.handedness == hb.handedness
            assert abs(ha.score - hb.score) < 1e-4
            assert np.abs(ha.keypoints_2d - hb.keypoints_2d).max() <= 0.5, path.name
            assert np.abs(ha.keypoints_3d - hb.keypoints_3d).max() <= 1e-3  # metres
            compared += 1
    assert compared >= 5  # hands were decoded, so the comparison is not vacuous


def test_export_cache_reuses_the_file_and_keys_on_the_weights(weights, onnx_path, tmp_path):
    again = export_weights(weights, cache_dir=onnx_path.parent)
    assert again == onnx_path and again.stat().st_mtime_ns == onnx_path.stat().st_mtime_ns

    def key(path, **kw):
        return cached_onnx_path(path, onnx_path.parent, **kw).stem.rsplit("-", 1)[1]

    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(weights.read_bytes())
    assert key(copy) == key(weights)  # the key is the content, not the name
    assert key(weights, opset=18) != key(weights)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # one bit of the weights changed: another cache entry
    copy.write_bytes(bytes(data))
    assert key(copy) != key(weights)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_foreign_or_missing_models_and_bad_options_are_rejected(tmp_path, net, onnx_path):
    foreign = tmp_path / "conv.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 1, 1).eval(), (torch.rand(1, 3, 8, 8),), str(foreign), dynamo=False,
                      opset_version=17)
    with pytest.raises(ValueError, match="not a hand_mesh"):
        read_onnx_info(foreign)
    with pytest.raises(FileNotFoundError):
        read_onnx_info(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="opset"):
        export_onnx(net, tmp_path / "old.onnx", opset=13)
    engine = OnnxRuntimeEngine(onnx_path)
    with pytest.raises(ValueError, match="expected"):
        engine(torch.rand(1, 3, net.input_size + 32, net.input_size))
    with pytest.raises(ValueError, match="threads"):
        OnnxRuntimeEngine(onnx_path, threads=0)
    with pytest.raises(ValueError, match="runtime must be"):
        create_engine("tflite", net=net)
    with pytest.raises(ValueError, match="needs an ONNX model"):
        create_engine("onnxruntime", net=net)
    larger = SingleStageNet(load_config(net.config, **{"model.input_size": net.input_size + 32}),
                            pretrained_backbone=False)
    with pytest.raises(ValueError, match="does not match"):  # an ONNX model of another network
        create_engine("onnxruntime", net=larger, onnx=onnx_path)


def test_execution_providers_follow_the_device():
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="device"):
        providers_for("tpu")
    if runtime_unavailable_reason("onnxruntime", "cuda") is None:
        assert providers_for("cuda:0")[0] == ("CUDAExecutionProvider", {"device_id": 0})
    else:
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
                providers_for("cuda")
    assert runtime_unavailable_reason("onnxruntime", "cpu") is None
    assert runtime_unavailable_reason("torch", "cpu") is None


@pytest.mark.skipif(runtime_unavailable_reason("onnxruntime", "cuda") is not None,
                    reason=f"ONNX Runtime on CUDA unavailable: {runtime_unavailable_reason('onnxruntime', 'cuda')}")
def test_onnxruntime_cuda_matches_pytorch(onnx_path, net):
    batch = torch.rand(2, 3, net.input_size, net.input_size, generator=torch.Generator().manual_seed(1))
    engine = OnnxRuntimeEngine(onnx_path, device="cuda")
    outputs = engine(batch.cuda())
    assert all(v.is_cuda for v in outputs.values())
    assert max(max_abs_difference(net, {k: v.cpu() for k, v in outputs.items()}, batch).values()) <= 1e-3


def test_cli_export_writes_a_checked_model(tmp_path):
    from typer.testing import CliRunner

    from hand_mesh_core.cli import app

    torch.manual_seed(0)
    tiny = SingleStageNet({
        "model": {"input_size": 64, "backbone": {"name": "resnet18", "options": {"width": 8}},
                  "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": False}},
    })
    weights = tmp_path / "tiny.safetensors"
    tiny.save(weights)
    out = tmp_path / "tiny.onnx"
    result = CliRunner().invoke(app, ["export", str(weights), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "max |onnxruntime - torch|" in result.output
    assert read_onnx_info(out).input_size == 64
    bad = CliRunner().invoke(app, ["export", str(tmp_path / "missing.safetensors")])
    assert bad.exit_code == 2 and "not found" in bad.output
