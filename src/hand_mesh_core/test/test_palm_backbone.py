"""The PyTorch twin of MediaPipe's palm detector equals the real network.

The reference is a TFLite interpreter (``ai-edge-litert``, the official LiteRT wheel) run
on ``palm_detection_full.tflite`` from the installed mediapipe wheel, with its builtin fp32
kernels (no XNNPACK delegate). Inputs are real photos from ``../shared/data``. Sizes
other than 192 are compared against the same .tflite whose two upsampling-size constants
are re-targeted (:meth:`TfliteModel.with_constant`): the only fixed sizes in the graph.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from hand_mesh_core.media import load_rgb
from hand_mesh_core.network.backbones import build_backbone
from hand_mesh_core.network.backbones import tflite_weights
from hand_mesh_core.network.backbones.palm import (
    PALM_CHANNELS,
    PALM_STRIDES,
    PalmBackbone,
    PalmDetector,
    load_palm_weights,
    tf_same_padding,
)
from hand_mesh_core.network.backbones.palm_decoding import decode_palm_detections, palm_anchor_centres
from hand_mesh_core.network.backbones.tflite_weights import (
    TfliteModel,
    conv2d_weight_to_torch,
    depthwise_weight_to_torch,
    palm_detection_model_path,
    prelu_weight_to_torch,
)
from hand_mesh_core.network.letterbox import Letterbox, letterbox_image

#: Keras layer whose output is each exposed map (see palm.py's table).
FEATURE_LAYERS = {2: "p_re_lu_4", 4: "p_re_lu_9", 8: "p_re_lu_30", 16: "p_re_lu_27", 32: "p_re_lu_24"}
#: max |twin - tflite| allowed, relative to max |tflite| of the compared tensor.
REL_TOL = 1e-4


@pytest.fixture(scope="module")
def palm_model() -> TfliteModel:
    return TfliteModel.from_file(palm_detection_model_path("full"))


@pytest.fixture(scope="module")
def detector() -> PalmDetector:
    return PalmDetector(pretrained=True).eval()


@pytest.fixture(scope="module")
def reference(palm_model):
    """``run(image_hwc_float) -> (interpreter, regressors, logits)`` on the real .tflite."""
    litert = pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert (TFLite reference interpreter) is not installed"
    )

    def run(image: np.ndarray):
        h, w = image.shape[:2]
        data = palm_model.data
        for op in (op for op in palm_model.operators if op.op == "RESIZE_BILINEAR"):
            stride = 192 // palm_model.tensors[op.outputs[0]].shape[1]  # 12 -> 16, 24 -> 8
            data = TfliteModel(data).with_constant(op.inputs[1], np.array([-(-h // stride), -(-w // stride)]))
        it = litert.Interpreter(
            model_content=data,
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=True,
        )
        it.resize_tensor_input(palm_model.inputs[0], [1, h, w, 3])
        it.allocate_tensors()
        it.set_tensor(palm_model.inputs[0], image[None].astype(np.float32))
        it.invoke()
        regressors = it.get_tensor(palm_model.outputs[0])[0]
        logits = it.get_tensor(palm_model.outputs[1])[0, :, 0]
        return it, regressors, logits

    return run


def _resized(path, h: int, w: int) -> np.ndarray:
    """Image stretched to h x w, float32 RGB in [0, 1] (H, W, 3)."""
    return cv2.resize(load_rgb(path), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _letterboxed(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """MediaPipe's keep-aspect-ratio input (centred, zero border) as float32 RGB in [0, 1]."""
    canvas, box = letterbox_image(image, size)
    return canvas.astype(np.float32) / 255.0, box


def _twin(detector: PalmDetector, image: np.ndarray):
    with torch.no_grad():
        return detector(torch.from_numpy(image).permute(2, 0, 1)[None])


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = float(np.abs(expected).max())
    err = float(np.abs(actual - expected).max())
    assert scale > 0, f"{what}: reference is all zeros"
    assert err <= REL_TOL * scale, f"{what}: max |diff| {err:.3g} > {REL_TOL} x {scale:.3g}"


# -- reading the .tflite --------------------------------------------------------------


def test_tf_same_padding_follows_the_tensorflow_rule():
    # TF docs' worked example: width 13, filter 6, stride 5 -> pad 1 left, 2 right
    assert tf_same_padding(13, 6, 5) == (1, 2)
    assert tf_same_padding(192, 5, 2) == (1, 2)  # even size, stride 2: extra pixel after
    assert tf_same_padding(25, 5, 2) == (2, 2)  # odd size: symmetric
    assert tf_same_padding(24, 2, 2) == (0, 0)  # 2x2/2 max-pool on an even size
    assert tf_same_padding(25, 2, 2) == (0, 1)
    assert tf_same_padding(7, 5, 1) == (2, 2)
    with pytest.raises(ValueError):
        tf_same_padding(0, 5, 2)


def test_reads_the_palm_graph(palm_model):
    # op counts of palm_detection_full.tflite (../shared/notes/method.md)
    counts = palm_model.op_counts()
    assert counts["CONV_2D"] == 35 and counts["DEPTHWISE_CONV_2D"] == 28 and counts["PRELU"] == 31
    assert counts["ADD"] == 30 and counts["MAX_POOL_2D"] == 4 and counts["PAD"] == 3
    assert counts["RESIZE_BILINEAR"] == 2
    assert palm_model.tensors[palm_model.inputs[0]].shape == (1, 192, 192, 3)
    assert [palm_model.tensors[i].shape for i in palm_model.outputs] == [(1, 2016, 18), (1, 2016, 1)]
    # a DEQUANTIZE output is the float32 cast of its float16 source
    deq = next(op for op in palm_model.operators if op.op == "DEQUANTIZE")
    src, dst = palm_model.constant(deq.inputs[0]), palm_model.constant(deq.outputs[0])
    assert src.dtype == np.float16 and dst.dtype == np.float32
    np.testing.assert_array_equal(dst, src.astype(np.float32))
    with pytest.raises(ValueError, match="not a constant"):
        palm_model.constant(palm_model.inputs[0])


def test_twin_has_exactly_the_tflite_parameters(palm_model, detector):
    layers = palm_model.layer_weights()
    assert len(layers) == 35 + 28 + 31
    stored = sum(w.weight.size + (0 if w.bias is None else w.bias.size) for w in layers.values())
    assert sum(p.numel() for p in detector.parameters()) == stored
    assert 1.1e6 < stored < 1.2e6


def test_layout_converters_map_every_element():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 5, 2)).astype(np.float32)  # OHWI
    t = conv2d_weight_to_torch(w)
    assert t.shape == (4, 2, 3, 5) and t[3, 1, 2, 4] == w[3, 2, 4, 1]
    d = rng.normal(size=(1, 5, 5, 6)).astype(np.float32)  # 1HWC
    td = depthwise_weight_to_torch(d)
    assert td.shape == (6, 1, 5, 5) and td[5, 0, 1, 3] == d[0, 1, 3, 5]
    a = rng.normal(size=(1, 1, 6)).astype(np.float32)
    np.testing.assert_array_equal(prelu_weight_to_torch(a), a[0, 0])
    with pytest.raises(ValueError):
        conv2d_weight_to_torch(w[0])
    with pytest.raises(ValueError):
        depthwise_weight_to_torch(np.zeros((2, 5, 5, 6), np.float32))
    with pytest.raises(ValueError):
        prelu_weight_to_torch(np.zeros((2, 6), np.float32))


def test_with_constant_replaces_one_constant_only(palm_model):
    resize = next(op for op in palm_model.operators if op.op == "RESIZE_BILINEAR")
    size_index = resize.inputs[1]
    patched = TfliteModel(palm_model.with_constant(size_index, np.array([17, 19])))
    np.testing.assert_array_equal(patched.constant(size_index), [17, 19])
    assert not np.array_equal(palm_model.constant(size_index), [17, 19])
    weight_index = next(op for op in palm_model.operators if op.op == "CONV_2D").inputs[1]
    np.testing.assert_array_equal(patched.constant(weight_index), palm_model.constant(weight_index))
    with pytest.raises(ValueError, match="shape"):
        palm_model.with_constant(size_index, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="no stored data"):
        palm_model.with_constant(palm_model.inputs[0], np.zeros((1, 192, 192, 3)))


def test_clear_errors_for_missing_mediapipe_and_bad_files(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="variant"):
        palm_detection_model_path("huge")
    with pytest.raises(ValueError, match="TFL3"):
        TfliteModel(b"not a flatbuffer at all")
    with pytest.raises(FileNotFoundError):
        TfliteModel.from_file(tmp_path / "absent.tflite")
    monkeypatch.setattr(tflite_weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="mediapipe==0.10.21"):
        palm_detection_model_path("full")


def test_loading_another_graph_is_refused():
    lite = TfliteModel.from_file(palm_detection_model_path("lite"))  # fewer blocks than "full"
    with pytest.raises(ValueError, match="does not match"):
        load_palm_weights(PalmBackbone(pretrained=False), lite)


# -- numerical equality with the real network ---------------------------------------------


@pytest.mark.parametrize(
    ("image", "h", "w"),
    [
        ("images/hamer_test1.jpg", 192, 192),
        ("annotated/freihand/00017620.jpg", 192, 192),
        ("images/interhand_demo_input.jpg", 256, 256),
        ("images/hamer_test2.jpg", 384, 384),
        ("images/acr_magic.jpg", 200, 232),  # odd maps at strides 8-32: symmetric SAME pads
    ],
)
def test_twin_equals_tflite(shared_data, reference, detector, palm_model, image, h, w):
    x = _resized(shared_data / image, h, w)
    it, regressors, logits = reference(x)
    out = _twin(detector, x)
    _assert_close(out.regressors[0].numpy(), regressors, "regressors")
    _assert_close(out.logits[0].numpy(), logits, "score logits")
    for stride, layer in FEATURE_LAYERS.items():
        index = next(
            t.index for t in palm_model.tensors if t.name.startswith(f"model_1/model/{layer}/") and len(t.shape) == 4
        )
        _assert_close(out.features[stride][0].permute(1, 2, 0).numpy(), it.get_tensor(index)[0], f"stride {stride}")


def test_backbone_alone_loads_the_same_weights(shared_data, detector):
    backbone = build_backbone("palm", out_strides=PALM_STRIDES).eval()
    x = torch.from_numpy(_resized(shared_data / "images/hamer_test3.jpg", 256, 256)).permute(2, 0, 1)[None]
    with torch.no_grad():
        maps = backbone(x)
        expected = detector.backbone.pyramid(x)
    for stride, m in zip(backbone.strides, maps):
        torch.testing.assert_close(m, expected[stride], rtol=0, atol=0)


# -- the features are real: palms are found ------------------------------------------------


def test_palms_found_in_hamer_test1_as_tflite_finds_them(shared_data, reference, detector):
    image, _ = _letterboxed(load_rgb(shared_data / "images/hamer_test1.jpg"), 192)
    out = _twin(detector, image)
    palms = decode_palm_detections(out.regressors[0], out.logits[0], (192, 192))
    _, regressors, logits = reference(image)
    expected = decode_palm_detections(regressors, logits, (192, 192))
    assert len(palms) >= 2 and all(p.score > 0.5 for p in palms)  # MediaPipe finds 2 hands here
    assert len(palms) == len(expected)
    for p, e in zip(palms, expected):
        assert abs(p.score - e.score) < 1e-4
        np.testing.assert_allclose(p.box, e.box, atol=0.05)
        np.testing.assert_allclose(p.keypoints, e.keypoints, atol=0.05)


def test_palms_found_on_freihand_inside_annotated_hands(shared_data, detector):
    folder = shared_data / "annotated/freihand"
    labels = json.loads((folder / "test_freihand.json").read_text())
    boxes = {a["image_id"]: a["bbox"] for a in labels["annotations"]}  # COCO x, y, w, h
    found = 0
    for info in labels["images"]:
        image, box = _letterboxed(load_rgb(folder / info["file_name"]), 192)
        out = _twin(detector, image)
        bx, by, bw, bh = boxes[info["id"]]
        palms = decode_palm_detections(out.regressors[0], out.logits[0], (192, 192))
        for palm in palms:
            u, v = box.to_image(0.5 * (palm.box[:2] + palm.box[2:]))
            assert bx <= u <= bx + bw and by <= v <= by + bh, f"{info['file_name']}: palm at ({u:.0f}, {v:.0f}) off the hand"
        found += bool(palms)
    # MediaPipe's own pipeline finds 7 of these 8 hands (../shared/data/README.md)
    assert found >= 7


# -- backbone contract ---------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(256, 256), (384, 384), (200, 232)])
def test_backbone_contract_at_other_sizes(h, w):
    backbone = build_backbone("palm", out_strides=(4, 8, 16, 32), pretrained=False)
    assert backbone.strides == [4, 8, 16, 32]
    assert backbone.out_channels == [PALM_CHANNELS[s] for s in backbone.strides]
    maps = backbone(torch.rand(2, 3, h, w))
    for s, c, m in zip(backbone.strides, backbone.out_channels, maps):
        assert tuple(m.shape) == (2, c, -(-h // s), -(-w // s))


def test_backbone_rejects_bad_options_and_inputs():
    with pytest.raises(ValueError, match="out_strides"):
        PalmBackbone(out_strides=(8, 64), pretrained=False)
    with pytest.raises(ValueError, match="out_strides"):
        PalmBackbone(out_strides=(), pretrained=False)
    backbone = PalmBackbone(pretrained=False)
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        backbone(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        backbone(torch.rand(1, 4, 64, 64))
    with pytest.raises(ValueError, match=">= 32"):
        backbone(torch.rand(1, 3, 16, 64))


def test_pretrained_backbone_trains_end_to_end():
    backbone = build_backbone("palm")  # pretrained by default
    scratch = build_backbone("palm", pretrained=False)
    x = torch.rand(1, 3, 128, 128)
    maps = backbone(x)
    assert not torch.allclose(maps[0], scratch(x)[0])
    sum(m.square().mean() for m in maps).backward()
    grads = [p.grad for p in backbone.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(int(g.abs().sum() > 0) for g in grads) >= 0.95 * len(grads)


# -- decoding (planted outputs) -------------------------------------------------------------


def test_anchor_centres_follow_the_ssd_scheme():
    a = palm_anchor_centres(192, 192)
    assert a.shape == (2016, 2)
    np.testing.assert_array_equal(a[0], a[1])  # 2 anchors per stride-8 cell
    np.testing.assert_array_equal(a[0], [4.0, 4.0])
    np.testing.assert_array_equal(a[2], [12.0, 4.0])  # next cell to the right
    np.testing.assert_array_equal(a[1152 : 1152 + 6], np.tile([8.0, 8.0], (6, 1)))  # stride 16
    assert palm_anchor_centres(200, 232).shape == (25 * 29 * 2 + 13 * 15 * 6, 2)


def test_decoding_planted_palms_with_weighted_nms():
    n = 2016
    anchors = palm_anchor_centres(192, 192)
    regressors = np.zeros((n, 18), np.float32)
    logits = np.full(n, -10.0, np.float32)
    assert decode_palm_detections(regressors, logits, (192, 192)) == []
    # two near-duplicates (weights 0.9 / 0.6 after sigmoid) and one separate palm
    for i, logit, dx, size in [(300, np.log(9.0), 0.0, 40.0), (301, np.log(1.5), 4.0, 40.0), (1500, 2.0, 0.0, 30.0)]:
        logits[i] = logit
        regressors[i, 0] = dx
        regressors[i, 2:4] = size
        regressors[i, 4:] = np.tile([dx + 1.0, -2.0], 7)
    palms = decode_palm_detections(regressors, logits, (192, 192))
    assert len(palms) == 2
    best = palms[0]
    assert best.score == pytest.approx(0.9, abs=1e-6)
    centre_x = anchors[300, 0] + (0.9 * 0.0 + 0.6 * 4.0) / 1.5
    np.testing.assert_allclose(best.box, [centre_x - 20, anchors[300, 1] - 20, centre_x + 20, anchors[300, 1] + 20], atol=1e-4)
    np.testing.assert_allclose(best.keypoints[:, 0], centre_x + 1.0, atol=1e-4)
    np.testing.assert_allclose(palms[1].box[:2], anchors[1500] - 15.0, atol=1e-4)
    with pytest.raises(ValueError, match="expected regressors"):
        decode_palm_detections(regressors[:-1], logits[:-1], (192, 192))
    with pytest.raises(ValueError, match="thresholds"):
        decode_palm_detections(regressors, logits, (192, 192), score_threshold=1.5)
