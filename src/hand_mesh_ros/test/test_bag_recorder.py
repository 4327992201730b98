"""McapBagRecorder: messages published over DDS land in an MCAP bag that MCAP readers decode."""

from __future__ import annotations

import array

import numpy as np
import pytest
import yaml
from hand_mesh_msgs.msg import HandMesh, HandMeshArray
from mcap.reader import make_reader
from mcap_ros2.reader import read_ros2_messages
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from hand_mesh_ros.bag_recorder import McapBagRecorder
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from hand_mesh_ros.message_definitions import SEPARATOR, field_types, full_definition
from ros_test_helpers import RELIABLE, spin_until


def test_full_definition_lists_each_dependency_once():
    text = full_definition("hand_mesh_msgs/msg/HandMeshArray")
    deps = [line[5:] for line in text.splitlines() if line.startswith("MSG: ")]
    assert len(deps) == len(set(deps))
    for dep in ("hand_mesh_msgs/HandMesh", "std_msgs/Header", "builtin_interfaces/Time",
                "sensor_msgs/RegionOfInterest", "geometry_msgs/Pose", "geometry_msgs/Vector3"):
        assert dep in deps
    assert text.count(SEPARATOR) == len(deps)


def test_field_types_skips_comments_constants_and_primitives():
    text = "# Header header\nuint8 LEFT=0\nstd_msgs/Header header\nfloat32[] v\nPoint[<=3] p # c\nstring<=5 s\n"
    assert field_types(text, "geometry_msgs") == ["geometry_msgs/Point", "std_msgs/Header"]


def _hands_msg(i: int) -> HandMeshArray:
    m = HandMeshArray()
    m.header.frame_id = "camera_optical_frame"
    m.header.stamp.sec = 100 + i
    m.num_vertices = 4
    m.faces_right = array.array("I", [0, 1, 2, 1, 2, 3])
    h = HandMesh(handedness=HandMesh.RIGHT, score=0.9)
    h.vertices = array.array("f", np.arange(12, dtype=np.float32) * (i + 1))
    m.hands = [h]
    return m


def test_recorded_bag_reads_back(ros_context, tmp_path):
    topics = {"/camera/image_raw": Image, "/hands/meshes": HandMeshArray, "/hands/markers": MarkerArray}
    recorder = McapBagRecorder(tmp_path / "bag", topics, context=ros_context)
    pub_node = Node("bag_test_publisher", context=ros_context)
    pubs = {t: pub_node.create_publisher(cls, t, RELIABLE) for t, cls in topics.items()}
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(recorder)
    executor.add_node(pub_node)
    try:
        assert spin_until(executor, lambda: all(p.get_subscription_count() >= 1 for p in pubs.values()), 10)
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(5)]
        for i, rgb in enumerate(images):
            img = rgb_to_image_msg(rgb)
            img.header.stamp.sec = 100 + i
            pubs["/camera/image_raw"].publish(img)
            pubs["/hands/meshes"].publish(_hands_msg(i))
        pubs["/hands/markers"].publish(MarkerArray(markers=[Marker(action=Marker.DELETEALL)]))
        assert spin_until(executor, lambda: recorder.message_count >= 11, 10)
    finally:
        executor.shutdown()
        recorder.destroy_node()
        pub_node.destroy_node()

    bag = tmp_path / "bag"
    mcap_path = bag / "bag_0.mcap"
    with open(mcap_path, "rb") as f:
        reader = make_reader(f)
        header = reader.get_header()
        summary = reader.get_summary()
    assert header.profile == "ros2"
    schemas = {s.name: s for s in summary.schemas.values()}
    assert set(schemas) == {"sensor_msgs/msg/Image", "hand_mesh_msgs/msg/HandMeshArray",
                            "visualization_msgs/msg/MarkerArray"}
    assert all(s.encoding == "ros2msg" for s in schemas.values())
    channels = {c.topic: c for c in summary.channels.values()}
    assert set(channels) == set(topics)
    for c in channels.values():
        assert c.message_encoding == "cdr"
        qos = yaml.safe_load(c.metadata["offered_qos_profiles"])
        # the publisher's QoS as DDS discovery reports it (reliable, volatile; depth is not
        # shared by discovery, rosbag2 records 0 as well)
        assert qos[0]["reliability"] == 1 and qos[0]["durability"] == 2
    counts = {channels_topic: summary.statistics.channel_message_counts[c.id] for channels_topic, c in channels.items()}
    assert counts == {"/camera/image_raw": 5, "/hands/meshes": 5, "/hands/markers": 1}

    decoded = {t: [] for t in topics}
    for m in read_ros2_messages(str(mcap_path)):
        decoded[m.channel.topic].append(m.ros_msg)
    for i, (img, rgb) in enumerate(zip(decoded["/camera/image_raw"], images)):
        assert img.header.stamp.sec == 100 + i and img.encoding == "rgb8"
        np.testing.assert_array_equal(np.frombuffer(bytes(img.data), np.uint8).reshape(24, 32, 3), rgb)
    hands = decoded["/hands/meshes"]
    assert [h.header.stamp.sec for h in hands] == [100, 101, 102, 103, 104]
    np.testing.assert_allclose(np.asarray(hands[2].hands[0].vertices), np.arange(12) * 3.0)
    assert list(hands[0].faces_right) == [0, 1, 2, 1, 2, 3]
    assert decoded["/hands/markers"][0].markers[0].action == Marker.DELETEALL

    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap" and meta["relative_file_paths"] == ["bag_0.mcap"]
    assert meta["message_count"] == 11
    assert {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]} == counts
    assert {t["topic_metadata"]["type"] for t in meta["topics_with_message_count"]} == set(schemas)


def test_recorder_refuses_a_non_empty_folder(ros_context, tmp_path):
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "x").write_text("x")
    with pytest.raises(FileExistsError):
        McapBagRecorder(tmp_path / "bag", {"/a": Image}, context=ros_context)
