"""The two_stage backend end to end on real images: create_predictor("two_stage")."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hand_mesh_core import create_predictor
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.media import FrameSource, load_rgb
from hand_mesh_core.results import Prediction


@pytest.fixture(scope="module")
def predictor():
    return create_predictor("two_stage", device="cpu", max_hands=4)


@pytest.fixture(scope="module")
def hands_image(shared_data):
    return load_rgb(shared_data / "images" / "hamer_test5.jpg")  # two hands, 1200x1799


@pytest.fixture(scope="module")
def reference(predictor, hands_image):
    return predictor.predict(hands_image)


def _hand_size(pred: Prediction) -> np.ndarray:
    kp = np.stack([h.keypoints_2d for h in pred])
    return (kp.max(axis=1) - kp.min(axis=1)).max(axis=1)


def test_prediction_is_consistent_and_metric(reference, hands_image):
    assert isinstance(reference, Prediction) and reference.backend == "two_stage"
    assert sorted(h.handedness for h in reference) == ["left", "right"]
    assert reference.image_size == (hands_image.shape[1], hands_image.shape[0])
    assert {"landmarks", "fitting", "total"} <= set(reference.timings)
    for hand in reference:
        # 2D is the projection of the 3D keypoints through K; vertices belong to this hand
        np.testing.assert_allclose(hand.keypoints_2d, project_np(hand.keypoints_3d.astype(np.float64), reference.K), atol=0.05)
        assert 0.2 < hand.keypoints_3d[0, 2] < 1.5  # metres, a person holding hands to the face
        assert np.linalg.norm(hand.vertices.mean(axis=0) - hand.keypoints_3d.mean(axis=0)) < 0.05
        assert hand.vertices.shape[0] == reference.faces[hand.handedness].max() + 1
        palm = np.linalg.norm(hand.keypoints_3d[9] - hand.keypoints_3d[0])
        assert 0.06 < palm < 0.13
    # the person's right hand is on the image's left in this ordinary photo
    right = next(h for h in reference if h.handedness == "right")
    left = next(h for h in reference if h.handedness == "left")
    assert right.keypoints_2d[:, 0].mean() < left.keypoints_2d[:, 0].mean()


def test_freihand_hands_come_out_right(predictor, shared_data):
    sides = []
    for path in sorted((shared_data / "annotated" / "freihand").glob("*.jpg")):
        sides += [h.handedness for h in predictor.predict(load_rgb(path))]
    assert len(sides) >= 5 and set(sides) == {"right"}


def test_no_hand_and_tiny_images_give_empty_predictions(predictor):
    for image in (np.full((480, 640, 3), 90, np.uint8), np.zeros((8, 8, 3), np.uint8), np.zeros((1, 1), np.uint8)):
        pred = predictor.predict(image)
        assert pred == [] and pred.image_size == (image.shape[1], image.shape[0])
        assert json.loads(pred.to_json())["hands"] == []


@pytest.mark.parametrize("layout", ["gray", "rgba", "uint16"])
def test_other_layouts_are_converted(predictor, hands_image, reference, layout):
    if layout == "gray":
        image = cv2.cvtColor(hands_image, cv2.COLOR_RGB2GRAY)
    elif layout == "rgba":
        image = np.concatenate([hands_image, np.full(hands_image.shape[:2] + (1,), 255, np.uint8)], axis=2)
    else:
        image = hands_image.astype(np.uint16) * 257
    pred = predictor.predict(image)
    if layout == "gray":  # other pixels (MediaPipe finds one of the two): a real hand, placed alike
        assert len(pred) >= 1
        for hand in pred:
            ref = next(h for h in reference if h.handedness == hand.handedness)
            err = np.linalg.norm(hand.keypoints_2d - ref.keypoints_2d, axis=1).mean()
            assert err < 0.1 * _hand_size(reference).max()
    else:  # the same RGB pixels after conversion: the same result
        assert [h.handedness for h in pred] == [h.handedness for h in reference]
        for a, b in zip(pred, reference):
            np.testing.assert_allclose(a.keypoints_3d, b.keypoints_3d, atol=1e-4)


def test_huge_image_is_downscaled_and_mapped_back(predictor, hands_image, reference):
    huge = cv2.resize(hands_image, (6000, 8000), interpolation=cv2.INTER_LINEAR)  # 8000 tall x 6000 wide
    sx, sy = 6000 / hands_image.shape[1], 8000 / hands_image.shape[0]
    K_ref = intrinsics_from_fov(hands_image.shape[1], hands_image.shape[0])
    K_huge = np.diag([sx, sy, 1.0]) @ K_ref  # the same camera, more pixels
    pred = predictor.predict(huge, K=K_huge)
    assert pred.image_size == (6000, 8000)
    np.testing.assert_allclose(pred.K, K_huge)
    assert sorted(h.handedness for h in pred) == ["left", "right"]
    for hand in pred:
        ref = next(h for h in reference if h.handedness == hand.handedness)
        back = hand.keypoints_2d / [sx, sy]
        assert np.linalg.norm(back - ref.keypoints_2d, axis=1).mean() < 0.05 * _hand_size(reference).max()
        assert abs(hand.keypoints_3d[0, 2] - ref.keypoints_3d[0, 2]) < 0.05 * ref.keypoints_3d[0, 2]
        assert (hand.bbox[2:] <= [6000, 8000]).all() and hand.bbox[2] > 1000


def test_given_K_sets_the_metric_depth(predictor, hands_image, reference):
    K = intrinsics_from_fov(hands_image.shape[1], hands_image.shape[0])
    K2 = K.copy()
    K2[0, 0] *= 2.0
    K2[1, 1] *= 2.0  # twice the focal length: the same pixels mean a hand twice as far
    pred = predictor.predict(hands_image, K=K2)
    for hand in pred:
        ref = next(h for h in reference if h.handedness == hand.handedness)
        ratio = hand.keypoints_3d[0, 2] / ref.keypoints_3d[0, 2]
        assert 1.8 < ratio < 2.2


def test_video_mode_keeps_track_ids_and_warm_starts(shared_data):
    predictor = create_predictor("two_stage", device="cpu", video=True, max_hands=2)
    cap = predictor.fitter.settings.max_iterations_warm
    ids: list[list[int]] = []
    warm_iterations: list[int] = []
    for frame in FrameSource(shared_data / "video" / "mmaction2_demo.mp4"):
        if frame.index >= 12:
            break
        known = {t.track_id: t.side for t in predictor.tracker.tracks}
        K = intrinsics_from_fov(frame.rgb.shape[1], frame.rgb.shape[0])
        stages = predictor.run_stages(frame.rgb, K, timestamp=frame.time)
        ids.append(sorted(stages.track_ids))
        sides = [h.handedness for h in stages.landmarks]  # the tracks' sides: warm only when unchanged
        warm_iterations += [int(i) for i, t, s in zip(stages.fit.iterations, stages.track_ids, sides) if known.get(t) == s]
    seen = [i for frame_ids in ids for i in frame_ids]
    assert seen and min(seen) >= 1
    # hands persist: most frames after the first reuse ids of the frame before
    reused = sum(bool(set(f) & set(ids[k - 1])) for k, f in enumerate(ids) if k and f)
    assert reused >= len([f for f in ids[1:] if f]) // 2
    assert warm_iterations and max(warm_iterations) <= cap
    predictor.reset()
    assert predictor.tracker.tracks == [] and len(predictor.warm_starts) == 0
    assert predictor.predict(np.full((256, 340, 3), 80, np.uint8), timestamp=0.0) == []


def test_plot_draws_over_the_image(reference, hands_image):
    overlay = reference.plot(hands_image)
    assert overlay.shape == hands_image.shape and overlay.dtype == np.uint8
    changed = (overlay != hands_image).any(axis=2)
    for hand in reference:
        x0, y0, x1, y1 = hand.bbox.astype(int)
        assert changed[y0:y1, x0:x1].mean() > 0.2  # the mesh covers the hand's box
    assert changed.mean() < 0.3
