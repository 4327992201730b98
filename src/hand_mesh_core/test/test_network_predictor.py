"""The ``single_stage`` backend: weights handling, letterbox + real-K decoding to results, batching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hand_mesh_core import create_predictor
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.single_stage import backend as single_stage
from hand_mesh_core.network.decoding import decode, gather_from_map
from hand_mesh_core.network.heads import PARAMS_PER_SIDE
from hand_mesh_core.network.letterbox import fit_letterbox
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.single_stage.backend import hands_to_predictions
from hand_mesh_core.results import Prediction

SIZE = 64


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    net = SingleStageNet({
        "model": {"input_size": SIZE, "backbone": {"name": "resnet18", "options": {"width": 8}},
                  "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": False}},
    })
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    net.save(path)
    return path


def _images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)]


def test_missing_weights_fail_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(single_stage, "DEFAULT_WEIGHTS", tmp_path / "none.safetensors")
    with pytest.raises(FileNotFoundError, match="no trained weights"):
        create_predictor("single_stage", device="cpu")
    with pytest.raises(FileNotFoundError, match="not found"):
        create_predictor("single_stage", device="cpu", weights=tmp_path / "x.safetensors")


def test_predict_returns_results_in_the_input_pixels_with_the_real_k(weights):
    # threshold 0: every local maximum of the (random) heatmap is a hand, so max_hands are found
    pred = create_predictor("single_stage", device="cpu", weights=weights, score_threshold=0.0, max_hands=3)
    image = _images()[0]
    K = intrinsics_from_fov(200, 120, 70.0)
    K[0, 2] += 7.0
    out = pred.predict(image, K)
    assert isinstance(out, Prediction) and out.backend == "single_stage"
    assert out.image_size == (200, 120) and np.allclose(out.K, K)
    assert len(out) == 3 and out.hand_model == "open_hand_v1"
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    assert {"network", "decode", "total"} <= set(out.timings)
    for h in out:
        assert np.allclose(h.keypoints_2d, project_np(h.keypoints_3d.astype(np.float64), K), atol=1e-2)
        assert (h.keypoints_3d[:, 2] > 0).all()
        assert h.vertices.shape == (HandModel(side=h.handedness).num_vertices, 3)
        assert 0 <= h.bbox[0] <= h.bbox[2] <= 200 and 0 <= h.bbox[1] <= h.bbox[3] <= 120
    assert len(create_predictor("single_stage", device="cpu", weights=weights, score_threshold=1.0).predict(image)) == 0


def test_batch_equals_one_by_one(weights):
    pred = create_predictor("single_stage", device="cpu", weights=weights, score_threshold=0.0, max_hands=2)
    images = _images()
    Ks = [None, intrinsics_from_fov(60, 90, 50.0)]
    batch = pred.predict_batch(images, Ks)
    for image, K, got in zip(images, Ks, batch):
        one = pred.predict(image, K)
        assert len(one) == len(got) == 2
        for a, b in zip(one, got):
            assert a.handedness == b.handedness
            assert np.allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)
            assert np.allclose(a.keypoints_2d, b.keypoints_2d, atol=1e-2)
    with pytest.raises(ValueError, match="intrinsics"):
        pred.predict_batch(images, Ks[:1])
    assert pred.predict_batch([]) == []


def test_batch_downscales_large_images_as_predict_does_and_refuses_stream_mode(weights):
    pred = create_predictor("single_stage", device="cpu", weights=weights, score_threshold=0.0, max_hands=2,
                            max_image_side=64)
    image = cv2.resize(_images()[0], (256, 160))  # downscaled 4x to the working side 64
    K = intrinsics_from_fov(256, 160, 60.0)
    one, (got,) = pred.predict(image, K), pred.predict_batch([image], [K])
    assert got.image_size == (256, 160) and np.allclose(got.K, K) and len(got) == len(one) == 2
    for a, b in zip(one, got):
        assert np.allclose(a.keypoints_2d, b.keypoints_2d, atol=1e-2)
        assert np.allclose(a.bbox, b.bbox, atol=1e-2)
    video = create_predictor("single_stage", device="cpu", weights=weights, video=True)
    with pytest.raises(ValueError, match="stream mode"):
        video.predict_batch([image])


def test_planted_hand_comes_back_at_its_pixel_and_metric_position_in_the_original_image():
    models = {s: HandModel(side=s) for s in ("left", "right")}
    K = np.array([[500.0, 0, 330.0], [0, 505.0, 230.0], [0, 0, 1]])
    wrist = np.array([0.08, 0.05, 0.5])
    box = fit_letterbox(640, 480, 256)
    uv_net = box.to_network(project_np(wrist[None], K))[0]
    col, row = np.floor(uv_net / 4).astype(int)
    K_net = box.intrinsics(K)
    params = torch.zeros(1, 2 * PARAMS_PER_SIDE, 64, 64)
    start = PARAMS_PER_SIDE  # right set
    params[0, start + 58 : start + 60, row, col] = torch.tensor(uv_net / 4 - [col, row] - 0.5)
    params[0, start + 60, row, col] = float(np.log(wrist[2] / (0.5 / 256 * np.sqrt(K_net[0, 0] * K_net[1, 1]))))
    centre = torch.full((1, 1, 64, 64), -9.0)
    centre[0, 0, row, col] = 4.0
    handed = torch.zeros(1, 2, 64, 64)
    handed[0, 1, row, col] = 5.0
    hands = decode(centre, handed, gather_from_map(params), torch.tensor(K_net, dtype=torch.float32), models,
                   stride=4, depth_ref=0.5 / 256, score_threshold=0.5, max_hands=4)
    (pred,) = hands_to_predictions(hands, [(640, 480)], [K], backend="single_stage", hand_model="open_hand_v1",
                                   faces={s: m.faces.numpy() for s, m in models.items()})
    assert len(pred) == 1 and pred[0].handedness == "right"
    assert np.allclose(pred[0].keypoints_3d[0], wrist, atol=1e-5)
    assert np.allclose(pred[0].keypoints_2d[0], project_np(wrist[None], K)[0], atol=1e-3)
    h = pred[0]
    rebuilt = models["right"](betas=torch.tensor(h.shape)[None], global_orient=torch.tensor(h.pose[:3])[None],
                              hand_pose=torch.tensor(h.pose[3:])[None], transl=torch.tensor(h.transl)[None])
    assert np.allclose(rebuilt.vertices[0].detach().numpy(), h.vertices, atol=1e-5)
