"""Markers of a prediction: DELETEALL first, mesh / skeleton / label per hand, nothing lingers."""

from __future__ import annotations

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.hand_model import SKELETON_EDGES
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_ros.markers import NS_LABEL, NS_MESH, NS_SKELETON, SIDE_COLORS, hand_markers, prediction_markers

V, F = 40, 70


def _hand(side: str, seed: int, track_id: int = 0) -> HandResult:
    rng = np.random.default_rng(seed)
    return HandResult(
        handedness=side, handedness_score=0.9, score=0.87, bbox=np.array([0, 0, 10, 10]),
        keypoints_2d=rng.uniform(0, 100, (21, 2)), keypoints_3d=rng.normal([0, 0, 0.6], 0.04, (21, 3)),
        vertices=rng.normal([0, 0, 0.6], 0.04, (V, 3)), pose=np.zeros(48), shape=np.zeros(10),
        transl=np.zeros(3), track_id=track_id)


def _prediction(hands) -> Prediction:
    rng = np.random.default_rng(3)
    return Prediction(hands, image_size=(320, 240), K=intrinsics_from_fov(320, 240), backend="two_stage",
                      hand_model="open_hand_v1", faces={s: rng.integers(0, V, (F, 3)) for s in ("left", "right")})


def _points(marker: Marker) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in marker.points])


def test_one_mesh_skeleton_and_label_per_hand():
    header = Header(frame_id="camera_optical_frame")
    header.stamp.sec = 42
    pred = _prediction([_hand("right", 1, track_id=7), _hand("left", 2)])
    markers = prediction_markers(pred, header, alpha=0.6).markers
    assert markers[0].action == Marker.DELETEALL
    assert len(markers) == 1 + 3 * 2
    assert all(m.header.frame_id == "camera_optical_frame" and m.header.stamp.sec == 42 for m in markers)
    by_key = {(m.ns, m.id): m for m in markers[1:]}
    assert len(by_key) == 6  # unique (ns, id)
    for i, hand in enumerate(pred):
        mesh, skel, label = by_key[(NS_MESH, i)], by_key[(NS_SKELETON, i)], by_key[(NS_LABEL, i)]
        assert mesh.type == Marker.TRIANGLE_LIST and mesh.action == Marker.ADD
        faces = pred.faces[hand.handedness]
        np.testing.assert_allclose(_points(mesh), hand.vertices[faces.reshape(-1)], rtol=1e-6)
        assert (mesh.color.r, mesh.color.g, mesh.color.b) == pytest.approx(SIDE_COLORS[hand.handedness])
        assert mesh.color.a == pytest.approx(0.6) and mesh.scale.x == 1.0
        assert skel.type == Marker.LINE_LIST and len(skel.points) == 2 * len(SKELETON_EDGES)
        np.testing.assert_allclose(_points(skel), hand.keypoints_3d[np.asarray(SKELETON_EDGES).reshape(-1)],
                                   rtol=1e-6)
        assert label.type == Marker.TEXT_VIEW_FACING and hand.handedness in label.text and "0.87" in label.text
        assert label.pose.position.y < hand.keypoints_3d[:, 1].min()  # above the hand (y down)
    assert by_key[(NS_LABEL, 0)].text.startswith("#7 ")
    assert SIDE_COLORS["left"] != SIDE_COLORS["right"]


def test_no_hands_leaves_only_the_deleteall():
    markers = prediction_markers(_prediction([]), Header(frame_id="cam")).markers
    assert len(markers) == 1 and markers[0].action == Marker.DELETEALL


def test_bad_inputs():
    hand = _hand("right", 4)
    with pytest.raises(ValueError):
        hand_markers(hand, 0, np.array([[0, 1, V]]), Header(), alpha=0.5)
    with pytest.raises(ValueError):
        hand_markers(hand, 0, None, Header(), alpha=1.5)
    only_skeleton = hand_markers(hand, 0, None, Header())  # no faces: skeleton and label only
    assert [m.ns for m in only_skeleton] == [NS_SKELETON, NS_LABEL]


def test_directly_filled_points_equal_checked_points_and_serialise_the_same():
    from rclpy.serialization import deserialize_message, serialize_message

    from hand_mesh_ros import markers

    xyz = np.random.default_rng(5).normal(0, 1, (3, 500)).tolist()
    fast, checked = markers._points_direct(*xyz), markers._points_checked(*xyz)
    assert fast == checked
    a, b = Marker(), Marker()
    a.points, b.points = fast, checked
    # (CDR padding bytes are not initialised, so compare the decoded messages)
    assert deserialize_message(serialize_message(a), Marker) == deserialize_message(serialize_message(b), Marker)
    assert deserialize_message(serialize_message(a), Marker).points == checked
    with pytest.raises(ValueError):
        markers._points(np.array([[0.0, np.nan, 1.0]]))
