"""HandResult / Prediction: validation, JSON round trip, documented keypoint order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.hand_model import KEYPOINT_NAMES
from hand_mesh_core.results import JSON_FORMAT, HandResult, Prediction


def _hand(rng: np.random.Generator, side: str = "right", score: float = 0.9, n_vertices: int = 7) -> HandResult:
    kp2 = rng.uniform(10, 200, size=(21, 2))
    return HandResult(
        handedness=side,
        handedness_score=0.8,
        score=score,
        bbox=bbox_from_points(kp2),
        keypoints_2d=kp2,
        keypoints_3d=rng.normal(size=(21, 3)) * 0.05 + [0, 0, 0.5],
        vertices=rng.normal(size=(n_vertices, 3)),
        pose=rng.normal(size=48) * 0.2,
        shape=rng.normal(size=10),
        transl=[0.01, -0.02, 0.5],
        keypoint_scores=rng.uniform(size=21),
        track_id=3,
    )


def _prediction(hands: list[HandResult]) -> Prediction:
    return Prediction(
        hands,
        image_size=(640, 480),
        K=intrinsics_from_fov(640, 480),
        backend="two_stage",
        hand_model="open_hand_v1",
        faces={"right": np.array([[0, 1, 2], [2, 3, 4]]), "left": np.array([[0, 2, 1]])},
        timings={"landmarks": 12.5, "fitting": 3.25},
    )


def test_hand_result_converts_to_float32_and_checks_shapes():
    rng = np.random.default_rng(0)
    hand = _hand(rng)
    assert hand.keypoints_3d.dtype == np.float32 and hand.vertices.dtype == np.float32
    assert hand.global_orient.shape == (3,) and hand.hand_pose.shape == (45,)
    np.testing.assert_array_equal(hand.global_orient, hand.pose[:3])
    good = hand.to_dict()
    bad_cases = {
        "keypoints_2d": np.zeros((20, 2)),
        "keypoints_3d": np.zeros((21, 2)),
        "pose": np.zeros(45),
        "shape": np.zeros(11),
        "transl": [0.0, np.nan, 1.0],
        "bbox": [10.0, 10.0, 5.0, 20.0],  # x1 < x0
        "handedness": "both",
        "score": 1.5,
        "track_id": -1,
    }
    for field, value in bad_cases.items():
        with pytest.raises(ValueError, match=field):
            HandResult.from_dict({**good, field: value})


def test_prediction_json_round_trip_keeps_every_field(tmp_path):
    rng = np.random.default_rng(1)
    pred = _prediction([_hand(rng, "right"), _hand(rng, "left", score=0.6)])
    path = tmp_path / "pred.json"
    text = pred.to_json(path)
    assert path.read_text() == text
    back = Prediction.from_json(path)
    assert back.image_size == (640, 480) and back.backend == "two_stage" and back.hand_model == "open_hand_v1"
    np.testing.assert_allclose(back.K, pred.K)
    assert back.timings == pred.timings
    np.testing.assert_array_equal(back.faces["left"], pred.faces["left"])
    assert [h.handedness for h in back] == ["right", "left"]
    for a, b in zip(pred, back):
        for field in ("bbox", "keypoints_2d", "keypoints_3d", "vertices", "pose", "shape", "transl", "keypoint_scores"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert (a.score, a.handedness_score, a.track_id) == (b.score, b.handedness_score, b.track_id)


def test_json_documents_keypoint_order_units_and_pose_layout():
    rng = np.random.default_rng(2)
    data = json.loads(_prediction([_hand(rng)]).to_json())
    assert data["format"] == JSON_FORMAT
    assert data["keypoint_order"] == list(KEYPOINT_NAMES)
    assert data["keypoint_order"][0] == "wrist" and data["keypoint_order"][4] == "thumb_tip"
    assert "optical frame" in data["units"]["keypoints_3d"] and "metres" in data["units"]["vertices"]
    assert "global_orient" in data["pose_layout"] and "hand_pose" in data["pose_layout"]
    assert data["image_size"] == {"width": 640, "height": 480}


def test_json_without_mesh_drops_vertices_and_faces():
    rng = np.random.default_rng(3)
    pred = _prediction([_hand(rng, n_vertices=500)])
    full, light = pred.to_json(), pred.to_json(include_mesh=False)
    data = json.loads(light)
    assert "faces" not in data and "vertices" not in data["hands"][0]
    assert len(light) < len(full) / 3
    back = Prediction.from_json(light)
    assert back[0].vertices.shape == (0, 3)
    np.testing.assert_array_equal(back[0].keypoints_3d, pred[0].keypoints_3d)


def test_prediction_rejects_bad_context():
    rng = np.random.default_rng(4)
    K = intrinsics_from_fov(64, 48)
    with pytest.raises(ValueError, match="image_size"):
        Prediction([], image_size=(0, 48), K=K, backend="b", hand_model="m")
    with pytest.raises(ValueError, match="K"):
        Prediction([], image_size=(64, 48), K=np.zeros((2, 3)), backend="b", hand_model="m")
    with pytest.raises(ValueError, match="not a HandResult"):
        Prediction([_hand(rng).to_dict()], image_size=(64, 48), K=K, backend="b", hand_model="m")
    with pytest.raises(ValueError, match="format"):
        Prediction.from_dict({"format": "something/else"})


def test_empty_prediction_is_an_empty_list_with_context():
    pred = Prediction([], image_size=(8, 8), K=intrinsics_from_fov(8, 8), backend="two_stage", hand_model="m")
    assert pred == [] and len(pred) == 0 and isinstance(pred, list)
    assert json.loads(pred.to_json())["hands"] == []
