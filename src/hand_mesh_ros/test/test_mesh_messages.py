"""Prediction <-> HandMeshArray: layouts, wrist frame, ROI, serialisation round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hand_mesh_msgs.msg import HandMesh, HandMeshArray
from rclpy.serialization import deserialize_message, serialize_message
from scipy.spatial.transform import Rotation
from std_msgs.msg import Header

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_ros.mesh_messages import prediction_from_msg, prediction_to_msg, wrist_frame

V, F = 50, 90


def _hand(side: str, seed: int, bbox=(10.5, 20.2, 110.7, 140.9)) -> HandResult:
    rng = np.random.default_rng(seed)
    kp3 = rng.normal([0, 0, 0.5], 0.03, (21, 3))
    return HandResult(
        handedness=side, handedness_score=0.93, score=0.81, bbox=np.array(bbox),
        keypoints_2d=rng.uniform(0, 300, (21, 2)), keypoints_3d=kp3, vertices=rng.normal([0, 0, 0.5], 0.03, (V, 3)),
        pose=rng.normal(0, 0.3, 48), shape=rng.normal(0, 1, 10), transl=rng.normal(0, 0.1, 3),
        keypoint_scores=rng.uniform(0, 1, 21), track_id=seed,
    )


def _prediction(hands) -> Prediction:
    rng = np.random.default_rng(9)
    faces = {s: rng.integers(0, V, (F, 3)) for s in ("left", "right")}
    return Prediction(hands, image_size=(320, 240), K=intrinsics_from_fov(320, 240), backend="two_stage",
                      hand_model="open_hand_v1", faces=faces, timings={"total": 12.0})


def _header() -> Header:
    h = Header(frame_id="cam_optical")
    h.stamp.sec, h.stamp.nanosec = 1700000000, 123456789
    return h


def _palm_facing_camera(side: str) -> np.ndarray:
    """21 keypoints of a hand held up in front of the camera, palm towards it, fingers up."""
    kp = np.zeros((21, 3))
    kp[:, 2] = 0.5
    kp[0] = (0.0, 0.10, 0.5)  # wrist, below (y down)
    kp[9] = (0.0, 0.0, 0.5)  # middle MCP
    # right hand seen palm-on: thumb side (index) on the image right (+x), pinky on the left
    kp[5] = (0.02, 0.005, 0.5)
    kp[17] = (-0.03, 0.01, 0.5)
    if side == "left":
        kp[:, 0] *= -1.0
    return kp


def test_wrist_frame_right_hand_z_out_of_the_back():
    position, quat = wrist_frame(_palm_facing_camera("right"))
    R = Rotation.from_quat(quat).as_matrix()
    np.testing.assert_allclose(position, [0, 0.10, 0.5])
    np.testing.assert_allclose(R[:, 0], [0, -1, 0], atol=1e-9)  # x: wrist -> middle MCP (up)
    np.testing.assert_allclose(R[:, 2], [0, 0, 1], atol=1e-9)  # z: out of the back, away from camera
    np.testing.assert_allclose(R[:, 1], np.cross(R[:, 2], R[:, 0]), atol=1e-9)
    assert np.isclose(np.linalg.det(R), 1.0)


def test_wrist_frame_left_hand_z_out_of_the_palm():
    _, quat = wrist_frame(_palm_facing_camera("left"))
    R = Rotation.from_quat(quat).as_matrix()
    np.testing.assert_allclose(R[:, 0], [0, -1, 0], atol=1e-9)
    np.testing.assert_allclose(R[:, 2], [0, 0, -1], atol=1e-9)  # palm faces the camera


def test_wrist_frame_rejects_bad_input_and_degenerate_is_identity():
    with pytest.raises(ValueError):
        wrist_frame(np.zeros((20, 3)))
    with pytest.raises(ValueError):
        wrist_frame(np.full((21, 3), np.nan))
    _, quat = wrist_frame(np.zeros((21, 3)))
    np.testing.assert_array_equal(quat, [0, 0, 0, 1])


def test_prediction_to_msg_layout():
    pred = _prediction([_hand("right", 1), _hand("left", 2)])
    msg = prediction_to_msg(pred, _header(), intrinsics_source="camera_info", processing_time=0.05)
    assert msg.header.frame_id == "cam_optical" and msg.header.stamp.nanosec == 123456789
    assert (msg.image_width, msg.image_height, msg.num_vertices) == (320, 240, V)
    np.testing.assert_allclose(np.asarray(msg.k).reshape(3, 3), pred.K)
    assert msg.intrinsics_source == "camera_info" and msg.backend == "two_stage" and msg.hand_model == "open_hand_v1"
    assert np.isclose(msg.processing_time, 0.05)
    assert list(msg.faces_left) == pred.faces["left"].reshape(-1).tolist()
    assert list(msg.faces_right) == pred.faces["right"].reshape(-1).tolist()
    h0, h1 = msg.hands
    assert h0.handedness == HandMesh.RIGHT and h1.handedness == HandMesh.LEFT and h0.track_id == 1
    # row-major flat layouts documented in HandMesh.msg
    assert len(h0.keypoints_2d) == 42 and len(h0.keypoints_3d) == 63 and len(h0.vertices) == 3 * V
    assert h0.keypoints_2d[2 * 7 + 1] == pytest.approx(pred[0].keypoints_2d[7, 1])
    assert h0.keypoints_3d[3 * 20 + 2] == pytest.approx(pred[0].keypoints_3d[20, 2])
    assert h0.vertices[3 * 11] == pytest.approx(pred[0].vertices[11, 0])
    assert (h0.roi.x_offset, h0.roi.y_offset, h0.roi.width, h0.roi.height) == (10, 20, 101, 121)
    assert h0.wrist_pose.position.z == pytest.approx(pred[0].keypoints_3d[0, 2])
    q = h0.wrist_pose.orientation
    assert np.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0)


def test_roi_is_clipped_to_the_image():
    pred = _prediction([_hand("right", 3, bbox=(-20.0, 200.0, 400.0, 260.0))])
    roi = prediction_to_msg(pred, _header(), intrinsics_source="default_fov").hands[0].roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 200, 320, 40)


def test_serialised_round_trip_gives_the_prediction_back():
    pred = _prediction([_hand("right", 4), _hand("left", 5)])
    msg = prediction_to_msg(pred, _header(), intrinsics_source="default_fov")
    back = prediction_from_msg(deserialize_message(serialize_message(msg), HandMeshArray))
    assert back.image_size == pred.image_size and back.backend == pred.backend
    np.testing.assert_allclose(back.K, pred.K)
    for side in ("left", "right"):
        np.testing.assert_array_equal(back.faces[side], pred.faces[side])
    for a, b in zip(back, pred):
        assert a.handedness == b.handedness and a.track_id == b.track_id
        for field in ("keypoints_2d", "keypoints_3d", "vertices", "pose", "shape", "transl", "keypoint_scores"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert a.score == pytest.approx(b.score) and a.handedness_score == pytest.approx(b.handedness_score)


def test_empty_prediction_and_errors():
    msg = prediction_to_msg(_prediction([]), _header(), intrinsics_source="default_fov")
    assert len(msg.hands) == 0 and msg.num_vertices == 0 and len(msg.faces_right) == 3 * F
    assert len(prediction_from_msg(msg)) == 0
    with pytest.raises(ValueError):
        prediction_to_msg(_prediction([]), _header(), intrinsics_source="guess")
    odd = _hand("left", 6)
    odd.vertices = odd.vertices[:10]
    with pytest.raises(ValueError):
        prediction_to_msg(_prediction([_hand("right", 7), odd]), _header(), intrinsics_source="default_fov")
    bad = prediction_to_msg(_prediction([_hand("right", 8)]), _header(), intrinsics_source="default_fov")
    bad.num_vertices = V + 1
    with pytest.raises(ValueError):
        prediction_from_msg(bad)
