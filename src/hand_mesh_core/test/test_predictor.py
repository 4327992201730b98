"""The Predictor base class and the backend registry (input conversion, K, rescaling).

The base class is exercised through a small concrete backend defined here that plants
hands at known 3D points and projects them with the K it receives: what comes back must
be the projection through the caller's K in the caller's pixels, whatever the base class
did to the image on the way (conversion, downscaling).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.backends import available_backends, create_predictor, register_backend
from hand_mesh_core.predictor import (
    DEFAULT_MAX_IMAGE_SIDE,
    Predictor,
    prepare_image,
    resolve_device,
    stream_timestamp,
)
from hand_mesh_core.results import HandResult, Prediction

# Three planted hands (21 points each, metres, optical frame) at different depths.
_RNG = np.random.default_rng(7)
_PLANTED = [_RNG.normal(scale=0.03, size=(21, 3)) + c for c in ([0.05, 0.0, 0.5], [-0.1, 0.05, 0.8], [0.0, -0.05, 1.2])]
_SCORES = [0.6, 0.9, 0.7]


class PlantedBackend(Predictor):
    """Projects the planted hands through the K it is given; records what it saw."""

    backend = "planted"

    def __init__(self, **options):
        super().__init__(**options)
        self.seen: list[tuple[tuple[int, ...], np.ndarray, float]] = []

    def _predict(self, image, K, timestamp):
        self.seen.append((image.shape, K.copy(), timestamp))
        hands = []
        for points, score in zip(_PLANTED, _SCORES):
            uv = project_np(points, K)
            hands.append(HandResult(
                handedness="right", handedness_score=0.9, score=score, bbox=bbox_from_points(uv),
                keypoints_2d=uv, keypoints_3d=points, vertices=points, pose=np.zeros(48),
                shape=np.zeros(10), transl=points[0],
            ))
        height, width = image.shape[:2]
        return Prediction(hands, image_size=(width, height), K=K, backend=self.backend, hand_model="none",
                          timings={"work": 1.0})


@pytest.fixture(autouse=True)
def _registered(monkeypatch):
    """Register the test backend for each test and restore the registry afterwards."""
    import hand_mesh_core.backends as module

    monkeypatch.setattr(module, "_BACKENDS", dict(module._BACKENDS))
    register_backend("planted", PlantedBackend)


def test_registry_lists_and_builds_backends():
    assert "two_stage" in available_backends() and "planted" in available_backends()
    predictor = create_predictor("planted", device="cpu", max_hands=2)
    assert isinstance(predictor, PlantedBackend) and predictor.max_hands == 2
    with pytest.raises(ValueError, match="unknown backend 'nope'.*two_stage"):
        create_predictor("nope")
    register_backend("not_a_predictor", "hand_mesh_core.camera:project")
    with pytest.raises(TypeError, match="not a Predictor"):
        create_predictor("not_a_predictor")
    with pytest.raises(TypeError):
        create_predictor("planted", no_such_option=1)


def test_options_are_validated():
    for bad in ({"max_hands": 0}, {"score_threshold": 1.5}, {"hand_model": "smpl"}, {"hand_model": "mano"},
                {"device": "tpu"}, {"max_image_side": 10}):
        with pytest.raises(ValueError):
            PlantedBackend(**bad)


def test_resolve_device():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ValueError):
        resolve_device("gpu")


def test_prepare_image_converts_layouts_and_rejects_garbage():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red
    np.testing.assert_array_equal(prepare_image(rgb), rgb)
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(prepare_image(rgba), rgb)  # alpha dropped, RGB order kept
    gray = np.full((4, 5), 90, np.uint8)
    assert prepare_image(gray).shape == (4, 5, 3) and (prepare_image(gray) == 90).all()
    assert prepare_image(gray[..., None]).shape == (4, 5, 3)
    deep = np.full((4, 5, 3), 65535, np.uint16)
    assert prepare_image(deep).dtype == np.uint8 and (prepare_image(deep) == 255).all()
    assert (prepare_image(np.full((4, 5, 3), 0.5, np.float32)) == 127).all()
    for bad in (np.zeros((4, 5, 2), np.uint8), np.zeros((2, 4, 5, 3), np.uint8), np.zeros((0, 5, 3), np.uint8),
                np.zeros((4, 5, 3), bool), np.full((4, 5, 3), np.nan, np.float32), [[0, 1], [2, 3]]):
        with pytest.raises(ValueError):
            prepare_image(bad)


def test_default_K_is_the_documented_field_of_view():
    predictor = PlantedBackend(device="cpu")
    pred = predictor.predict(np.zeros((48, 64, 3), np.uint8))
    np.testing.assert_allclose(pred.K, intrinsics_from_fov(64, 48))
    np.testing.assert_allclose(predictor.seen[-1][1], intrinsics_from_fov(64, 48))
    with pytest.raises(ValueError):
        predictor.predict(np.zeros((48, 64, 3), np.uint8), K=np.eye(2))


def test_huge_image_is_downscaled_and_2d_results_map_back_to_input_pixels():
    predictor = PlantedBackend(device="cpu")
    K = np.array([[6000.0, 0.0, 3990.0], [0.0, 6100.0, 3010.0], [0.0, 0.0, 1.0]])
    image = np.zeros((6000, 8000), np.uint16)  # 16-bit grayscale as well
    pred = predictor.predict(image, K=K)
    shape, K_seen, _ = predictor.seen[-1]
    assert max(shape[:2]) == DEFAULT_MAX_IMAGE_SIDE and shape[2] == 3
    assert K_seen[0, 0] < K[0, 0] / 4  # the backend worked with K scaled to its image
    assert pred.image_size == (8000, 6000)
    np.testing.assert_allclose(pred.K, K)
    for hand in pred:
        planted = _PLANTED[[s for s in _SCORES].index(hand.score)]
        np.testing.assert_allclose(hand.keypoints_2d, project_np(planted, K), atol=0.05)
        np.testing.assert_allclose(hand.keypoints_3d, planted, atol=1e-6)
        np.testing.assert_allclose(hand.bbox, bbox_from_points(project_np(planted, K)), atol=0.05)


def test_hands_sorted_by_score_and_truncated_to_max_hands():
    pred = PlantedBackend(device="cpu", max_hands=2).predict(np.zeros((30, 40, 3), np.uint8), timestamp=12.5)
    assert [h.score for h in pred] == [0.9, 0.7]
    assert pred.timings["work"] == 1.0 and pred.timings["total"] > 0
    assert pred.backend == "planted"


def test_tiny_image_reaches_the_backend_unchanged():
    predictor = PlantedBackend(device="cpu")
    predictor.predict(np.zeros((8, 8, 4), np.uint8))
    assert predictor.seen[-1][0] == (8, 8, 3)


def test_stream_timestamp_keeps_time_increasing_and_restarts_after_a_jump_back():
    assert stream_timestamp(5.0, None) == (5.0, False)
    assert stream_timestamp(5.1, 5.0) == (5.1, False)
    for same_or_earlier in (5.0, 4.5, 4.0):  # up to 1 s back: moved 1 ms past the previous frame
        t, restart = stream_timestamp(same_or_earlier, 5.0)
        assert t == pytest.approx(5.001) and not restart
    assert stream_timestamp(3.9, 5.0) == (3.9, True)  # more than 1 s back: a new stream


def test_stream_mode_clamps_frame_times_and_resets_on_a_jump_back():
    predictor = PlantedBackend(device="cpu", video=True)
    image = np.zeros((30, 40, 3), np.uint8)
    for t in (10.0, 10.0, 9.5):
        predictor.predict(image, timestamp=t)
    assert [s[2] for s in predictor.seen] == pytest.approx([10.0, 10.001, 10.002])
    resets = []
    reset = predictor.reset
    predictor.reset = lambda: (resets.append(1), reset())
    predictor.predict(image, timestamp=10.1)
    assert predictor.stream_restarts == 0 and not resets
    predictor.predict(image, timestamp=2.0)  # a bag played again
    assert predictor.seen[-1][2] == 2.0 and predictor.stream_restarts == 1 and len(resets) == 1
    image_mode = PlantedBackend(device="cpu")
    image_mode.predict(image, timestamp=10.0)
    image_mode.predict(image, timestamp=2.0)
    assert [s[2] for s in image_mode.seen] == [10.0, 2.0] and image_mode.stream_restarts == 0
