"""hand_mesh_node with the real two_stage predictor on real images, over real DDS.

Each test starts the node in its own rclpy context (topics under /t/...), publishes real
images from ../shared/data one at a time and checks what comes back on /hands/meshes,
/hands/markers, /diagnostics and /rosout.
"""

from __future__ import annotations

import array
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from hand_mesh_msgs.msg import HandMesh, HandMeshArray
from rclpy.exceptions import InvalidParameterValueException
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from visualization_msgs.msg import Marker

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.media import load_rgb
from hand_mesh_core.testing import tiny_single_stage_weights
from hand_mesh_ros.hand_mesh_node import HandMeshNode
from hand_mesh_ros.image_conversion import image_msg_to_rgb, rgb_to_image_msg
from hand_mesh_ros.image_source import ImageSource
from ros_test_helpers import spin_until

#: Real photos (../shared/data, README there) in which MediaPipe finds hands at the default
#: threshold (it finds none in hamer_test2/4): at least (count, sides) expected.
HAND_IMAGES = {
    "images/hamer_test1.jpg": 2,  # two people, several hands
    "images/hamer_test3.jpg": 1,
    "images/hamer_test5.jpg": 2,
    "images/acr_magic.jpg": 1,
    "annotated/freihand/00000355.jpg": 1,  # one right hand
}


def _check_plausible(msg: HandMeshArray, width: int, height: int) -> None:
    assert (msg.image_width, msg.image_height) == (width, height)
    assert msg.backend == "two_stage" and msg.hand_model
    assert len(msg.faces_left) > 0 and len(msg.faces_right) > 0
    assert msg.num_vertices > 100 or not msg.hands
    for h in msg.hands:
        assert h.handedness in (HandMesh.LEFT, HandMesh.RIGHT)
        assert 0.0 <= h.score <= 1.0 and 0.5 <= h.handedness_confidence <= 1.0
        kp3 = np.asarray(h.keypoints_3d).reshape(21, 3)
        verts = np.asarray(h.vertices).reshape(-1, 3)
        assert len(verts) == msg.num_vertices
        assert (kp3[:, 2] > 0.05).all() and (kp3[:, 2] < 10).all()  # in front of the camera
        assert (verts[:, 2] > 0.05).all()
        # a hand is a hand: wrist -> middle MCP -> PIP -> DIP -> tip, 10..30 cm along the bones
        middle = kp3[[0, 9, 10, 11, 12]]
        assert 0.10 < np.linalg.norm(np.diff(middle, axis=0), axis=1).sum() < 0.30
        kp2 = np.asarray(h.keypoints_2d).reshape(21, 2)
        assert (kp2 > -0.2 * width).all() and (kp2[:, 0] < 1.2 * width).all() and (kp2[:, 1] < 1.2 * height).all()
        q = h.wrist_pose.orientation
        assert abs(q.x**2 + q.y**2 + q.z**2 + q.w**2 - 1.0) < 1e-5
        assert h.wrist_pose.position.z == pytest.approx(kp3[0, 2], abs=1e-6)


def test_real_images_come_back_with_their_stamp_and_plausible_hands(rig_factory, shared_data):
    # unrelated photos, not a video: stream mode would track hands from one into the next
    rig = rig_factory(video=False)
    counts = {}
    for name in HAND_IMAGES:
        rgb = load_rgb(shared_data / name)
        h, w = rgb.shape[:2]
        K = intrinsics_from_fov(w, h, 55.0)
        img = rgb_to_image_msg(rgb, "bgr8")
        result = rig.send(img, K=K)
        assert result.header.stamp == img.header.stamp and result.header.frame_id == "test_optical_frame"
        assert result.intrinsics_source == "camera_info"
        np.testing.assert_allclose(np.asarray(result.k).reshape(3, 3), K)
        _check_plausible(result, w, h)
        counts[name] = len(result.hands)
        if "freihand" in name:  # FreiHAND is right hands only
            assert [h.handedness for h in result.hands] == [HandMesh.RIGHT]
    assert all(counts[name] >= n for name, n in HAND_IMAGES.items()), counts
    d = rig.diagnostics()
    assert int(d["frames_processed"]) == len(HAND_IMAGES) and d["backend"] == "two_stage"
    assert d["intrinsics_source"] == "camera_info" and int(d["frames_malformed"]) == 0


def test_markers_and_debug_image_match_hands_and_markers_are_deleted_when_hands_leave(rig_factory, shared_data):
    rig = rig_factory(publish_debug_image=True)
    markers = rig.out.messages["/hands/markers"]
    overlays = rig.out.messages["/hands/debug_image"]
    rgb = load_rgb(shared_data / "images" / "hamer_test1.jpg")
    result = rig.send(rgb_to_image_msg(rgb))
    assert spin_until(rig.executor, lambda: len(markers) == 1 and len(overlays) == 1, 10)
    overlay = overlays[0]
    assert overlay.header == result.header and (overlay.width, overlay.height) == (rgb.shape[1], rgb.shape[0])
    drawn = image_msg_to_rgb(overlay)
    changed = np.any(drawn != rgb, axis=2)
    x0, y0, x1, y1 = (int(v) for v in np.asarray([[h.roi.x_offset, h.roi.y_offset, h.roi.x_offset + h.roi.width,
                                                    h.roi.y_offset + h.roi.height] for h in result.hands][0]))
    assert changed[y0:y1, x0:x1].mean() > 0.2  # the hand is drawn over, inside its ROI
    assert changed.mean() < 0.5  # and not the whole picture
    first = markers[-1].markers
    assert first[0].action == Marker.DELETEALL
    assert len(first) == 1 + 3 * len(result.hands) and len(result.hands) >= 2
    kinds = sorted(m.type for m in first[1:])
    assert kinds.count(Marker.TRIANGLE_LIST) == kinds.count(Marker.LINE_LIST) == len(result.hands)
    assert all(m.header.frame_id == "test_optical_frame" and m.header.stamp == result.header.stamp for m in first)
    for m in first:
        if m.type == Marker.TRIANGLE_LIST:
            hand = result.hands[m.id]
            faces = result.faces_left if hand.handedness == HandMesh.LEFT else result.faces_right
            assert len(m.points) == len(faces)  # 3 points per triangle, flat faces hold 3 per triangle
    # the hands leave: an image without hands
    empty = rig.send(rgb_to_image_msg(np.full_like(rgb, 90)))
    assert len(empty.hands) == 0
    assert spin_until(rig.executor, lambda: len(markers) == 2, 10)
    assert [m.action for m in markers[-1].markers] == [Marker.DELETEALL]


def _bad_images(good: Image) -> dict[str, Image]:
    def copy(**fields) -> Image:
        m = Image(height=good.height, width=good.width, encoding=good.encoding, step=good.step,
                  data=array.array("B", bytes(good.data)))
        for k, v in fields.items():
            setattr(m, k, v)
        return m
    return {
        "unknown encoding": copy(encoding="bayer_weird42"),
        "step inconsistent with width": copy(step=good.width * 3 - 3),
        "zero size": copy(width=0, height=0, step=0, data=array.array("B")),
        "truncated data": copy(data=array.array("B", bytes(good.data)[: len(good.data) // 2])),
    }


def test_malformed_images_are_logged_counted_and_the_next_good_one_served(rig_factory, shared_data):
    rig = rig_factory()
    good = rgb_to_image_msg(load_rgb(shared_data / "images" / "hamer_test3.jpg"))
    for bad in _bad_images(good).values():
        rig.send(bad, expect_result=False)
    result = rig.send(good)
    assert len(result.hands) >= 1 and result.header.stamp == good.header.stamp
    assert len(rig.meshes) == 1  # nothing was published for the malformed ones
    d = rig.diagnostics()
    assert int(d["frames_malformed"]) == 4 and int(d["frames_received"]) == 5 and int(d["frames_processed"]) == 1
    assert spin_until(rig.executor, lambda: rig.warnings("malformed image"), 5)


def test_without_camera_info_default_intrinsics_warned_once(rig_factory, shared_data):
    rig = rig_factory(default_hfov_deg=70.0)
    rgb = load_rgb(shared_data / "images" / "hamer_test3.jpg")
    h, w = rgb.shape[:2]
    for _ in range(3):
        result = rig.send(rgb_to_image_msg(rgb))
        assert result.intrinsics_source == "default_fov"
        np.testing.assert_allclose(np.asarray(result.k).reshape(3, 3), intrinsics_from_fov(w, h, 70.0))
    spin_until(rig.executor, lambda: False, 0.5)
    assert len(rig.warnings("no camera_info")) == 1


def test_compressed_input(rig_factory, shared_data):
    rig = rig_factory(compressed=True)
    rgb = load_rgb(shared_data / "images" / "hamer_test3.jpg")
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    msg = CompressedImage(format="jpeg", data=array.array("B", jpeg.tobytes()))
    result = rig.send(msg)
    assert len(result.hands) >= 1 and (result.image_width, result.image_height) == (rgb.shape[1], rgb.shape[0])


def test_parameters_validated_read_only_and_dynamic(rig_factory, shared_data):
    rig = rig_factory()
    node = rig.node
    assert not node.set_parameters([Parameter("backend", value="single_stage")])[0].successful  # read-only
    assert not node.set_parameters([Parameter("default_hfov_deg", value=200.0)])[0].successful  # range
    assert not node.set_parameters([Parameter("marker_alpha", value=-0.1)])[0].successful
    assert node.set_parameters([Parameter("publish_markers", value=False)])[0].successful
    rig.send(rgb_to_image_msg(load_rgb(shared_data / "images" / "hamer_test3.jpg")))
    spin_until(rig.executor, lambda: False, 0.3)
    assert rig.out.messages["/hands/markers"] == []  # markers switched off at runtime


@pytest.mark.slow
def test_single_stage_with_weights_and_runtime_parameters(rig_factory, shared_data, tmp_path, monkeypatch):
    # the plumbing of 'weights' and 'runtime': a small seeded network (not trained) run by
    # ONNX Runtime from the given file; threshold 0 decodes max_hands peaks
    monkeypatch.setenv("HAND_MESH_CACHE", str(tmp_path / "cache"))
    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    rig = rig_factory(backend="single_stage", runtime="onnxruntime", weights=str(weights), device="cpu",
                      score_threshold=0.0, max_hands=2, video=False)
    assert rig.node.predictor.weights_path == weights and rig.node.predictor.runtime == "onnxruntime"
    result = rig.send(rgb_to_image_msg(load_rgb(shared_data / "images" / "hamer_test3.jpg")))
    assert result.backend == "single_stage" and len(result.hands) == 2
    d = rig.diagnostics()
    assert d["runtime"] == "onnxruntime" and d["weights"] == str(weights)
    assert not rig.node.set_parameters([Parameter("weights", value="")])[0].successful  # read-only


def test_missing_weights_file_is_refused_at_start(ros_context, tmp_path):
    missing = str(tmp_path / "missing.safetensors")
    with pytest.raises(InvalidParameterValueException, match="no such weights file"):
        HandMeshNode(context=ros_context, parameter_overrides=[
            Parameter("backend", value="single_stage"), Parameter("weights", value=missing)])


def test_auto_image_qos_switches_to_best_effort_for_a_sensor_data_camera(rig_factory, shared_data):
    # a camera driver publishing with the sensor-data QoS (best effort) cannot reach a
    # reliable subscription; image_qos=auto notices and resubscribes best effort
    rig = rig_factory(publisher_qos=qos_profile_sensor_data)
    result = rig.send(rgb_to_image_msg(load_rgb(shared_data / "images" / "hamer_test3.jpg")))
    assert len(result.hands) >= 1
    assert rig.diagnostics()["image_qos"] == "best_effort"


def test_config_yaml_loads_into_both_nodes_through_rcl(shared_data):
    # what `ros2 launch` does with config/hand_mesh.yaml: rcl parses the file and the nodes
    # declare every parameter with the file's value and type
    config = Path(__file__).resolve().parents[3] / "config" / "hand_mesh.yaml"
    values = yaml.safe_load(config.read_text())
    ctx = rclpy.Context()
    rclpy.init(context=ctx, args=["--ros-args", "--params-file", str(config)])
    nodes = []
    try:
        nodes.append(HandMeshNode(context=ctx))
        nodes.append(ImageSource(context=ctx, parameter_overrides=[
            Parameter("source", value=str(shared_data / "images"))]))
        for node in nodes:
            expected = values[node.get_name()]["ros__parameters"]
            for name, value in expected.items():
                if name != "source":
                    assert node.get_parameter(name).value == value, (node.get_name(), name)
        assert nodes[1].get_parameter("loop").value is True  # file value, not the code default
    finally:
        for n in nodes:
            n.destroy_node()
        rclpy.shutdown(context=ctx)


def test_qos_event_callbacks_come_from_the_current_module():
    """On Jazzy and Kilted the node takes SubscriptionEventCallbacks from rclpy.event_handler
    (rclpy.qos_event is deprecated there); only Humble lacks it and uses qos_event."""
    import importlib.util

    from hand_mesh_ros import hand_mesh_node

    if importlib.util.find_spec("rclpy.event_handler") is None:
        pytest.skip("rclpy without event_handler (Humble): the node uses rclpy.qos_event")
    assert hand_mesh_node.SubscriptionEventCallbacks.__module__ == "rclpy.event_handler"
