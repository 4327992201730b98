"""The demo behind `make demo`, on the first seconds of the shared video: its MCAP bag is
read back with the MCAP readers and holds the expected topics and counts; the overlay video
and the contact sheet are written."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml
from mcap.reader import make_reader
from mcap_ros2.reader import read_ros2_messages
from visualization_msgs.msg import Marker

from hand_mesh_ros.demo import IMAGE_TOPIC, INFO_TOPIC, MARKERS_TOPIC, MESHES_TOPIC, main, run_demo

pytestmark = pytest.mark.slow

FRAMES = 24


def test_demo_records_a_readable_bag_video_and_sheet(shared_data, tmp_path, capsys):
    video = shared_data / "video" / "mmaction2_demo.mp4"
    summary = run_demo(str(video), tmp_path, rate=12.0, max_frames=FRAMES)
    assert summary.frames_in == FRAMES
    assert summary.frames_processed + summary.frames_dropped + summary.frames_malformed == FRAMES
    assert summary.frames_processed >= 4 and summary.results_received == summary.frames_processed
    assert summary.frames_with_hands >= 1 and 0 < summary.latency_p50_ms <= summary.latency_p95_ms < 10_000

    mcap_path = summary.bag / f"{summary.bag.name}_0.mcap"
    with open(mcap_path, "rb") as f:
        s = make_reader(f).get_summary()
    channels = {c.id: c.topic for c in s.channels.values()}
    counts = {channels[i]: n for i, n in s.statistics.channel_message_counts.items()}
    assert counts == {IMAGE_TOPIC: FRAMES, INFO_TOPIC: FRAMES, MESHES_TOPIC: summary.frames_processed,
                      MARKERS_TOPIC: summary.frames_processed}
    assert {sc.name for sc in s.schemas.values()} == {
        "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "hand_mesh_msgs/msg/HandMeshArray",
        "visualization_msgs/msg/MarkerArray"}

    images, meshes, markers = {}, [], []
    for m in read_ros2_messages(str(mcap_path)):
        if m.channel.topic == IMAGE_TOPIC:
            images[(m.ros_msg.header.stamp.sec, m.ros_msg.header.stamp.nanosec)] = m.ros_msg
        elif m.channel.topic == MESHES_TOPIC:
            meshes.append(m.ros_msg)
        elif m.channel.topic == MARKERS_TOPIC:
            markers.append(m.ros_msg)
    for hm, mk in zip(meshes, markers):
        key = (hm.header.stamp.sec, hm.header.stamp.nanosec)
        assert key in images  # every result answers a recorded image, same stamp
        assert hm.header.frame_id == images[key].header.frame_id == "camera_optical_frame"
        assert (hm.image_width, hm.image_height) == (340, 256) and hm.intrinsics_source == "camera_info"
        assert mk.markers[0].action == Marker.DELETEALL and len(mk.markers) == 1 + 3 * len(hm.hands)
        for h in hm.hands:
            assert len(h.vertices) == 3 * hm.num_vertices and min(h.keypoints_3d[2::3]) > 0
    assert sum(len(hm.hands) for hm in meshes) >= 1

    meta = yaml.safe_load((summary.bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["message_count"] == sum(counts.values())
    assert {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]} == counts

    cap = cv2.VideoCapture(str(summary.video))
    ok, frame = cap.read()
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert ok and frame.shape == (256, 340, 3) and n >= summary.frames_processed
    sheet = cv2.imread(str(summary.contact_sheet))
    assert sheet is not None and sheet.shape[0] >= 256 and sheet.shape[1] >= 340
    assert float(np.std(sheet)) > 10
    line = summary.line()
    assert f"frames in {FRAMES}" in line and "latency p50" in line and "p95" in line


def test_demo_cli_reports_a_missing_input(tmp_path, capsys):
    assert main(["--input", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "out")]) == 2
    assert "not found" in capsys.readouterr().err
