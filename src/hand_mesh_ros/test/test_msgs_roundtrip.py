"""hand_mesh_msgs over real DDS: two rclpy nodes in one process, and two OS processes.

A HandMeshArray with two hands of realistic size (1159 vertices each, the open hand
model's size; 2314 triangles per side) must arrive intact.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from hand_mesh_msgs.msg import HandMesh, HandMeshArray

NUM_VERTICES = 1159
NUM_FACES = 2314
TOPIC = "/test/hands/meshes"
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def make_array(seed: int) -> HandMeshArray:
    """A HandMeshArray with two hands filled from a seeded generator (float32 exact)."""
    rng = np.random.default_rng(seed)
    msg = HandMeshArray()
    msg.header.frame_id = "camera_optical_frame"
    msg.header.stamp.sec = 1700000000 + seed
    msg.header.stamp.nanosec = 123456789
    msg.image_width, msg.image_height = 640, 480
    msg.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    msg.intrinsics_source = "camera_info"
    msg.hand_model = "open_hand_v1"
    msg.backend = "two_stage"
    msg.processing_time = 0.042
    msg.num_vertices = NUM_VERTICES
    msg.faces_left = rng.integers(0, NUM_VERTICES, 3 * NUM_FACES, dtype=np.uint32).tolist()
    msg.faces_right = rng.integers(0, NUM_VERTICES, 3 * NUM_FACES, dtype=np.uint32).tolist()
    for i, side in enumerate((HandMesh.LEFT, HandMesh.RIGHT)):
        h = HandMesh()
        h.track_id = i + 1
        h.handedness = side
        h.handedness_confidence = 0.9
        h.score = 0.8 - 0.1 * i
        h.roi.x_offset, h.roi.y_offset, h.roi.width, h.roi.height = 100 * i, 50, 120, 140
        h.keypoints_2d = rng.uniform(0, 480, 42).astype(np.float32)
        h.keypoint_confidence = rng.uniform(0, 1, 21).astype(np.float32)
        h.keypoints_3d = rng.uniform(-0.2, 0.6, 63).astype(np.float32)
        h.vertices = rng.uniform(-0.2, 0.6, 3 * NUM_VERTICES).astype(np.float32)
        h.pose = rng.uniform(-1, 1, 48).astype(np.float32)
        h.shape = rng.uniform(-2, 2, 10).astype(np.float32)
        h.translation.x, h.translation.y, h.translation.z = 0.1, -0.05, 0.5 + i
        h.wrist_pose.position.z = 0.5 + i
        h.wrist_pose.orientation.w = 1.0
        msg.hands.append(h)
    return msg


def assert_same(a: HandMeshArray, b: HandMeshArray) -> None:
    assert a.header.frame_id == b.header.frame_id
    assert (a.header.stamp.sec, a.header.stamp.nanosec) == (b.header.stamp.sec, b.header.stamp.nanosec)
    assert (a.image_width, a.image_height) == (b.image_width, b.image_height)
    assert list(a.k) == list(b.k)
    assert (a.hand_model, a.backend, a.intrinsics_source) == (b.hand_model, b.backend, b.intrinsics_source)
    assert a.num_vertices == b.num_vertices
    assert np.array_equal(np.asarray(a.faces_left), np.asarray(b.faces_left))
    assert np.array_equal(np.asarray(a.faces_right), np.asarray(b.faces_right))
    assert len(a.hands) == len(b.hands) == 2
    for ha, hb in zip(a.hands, b.hands):
        assert (ha.track_id, ha.handedness) == (hb.track_id, hb.handedness)
        assert ha.score == pytest.approx(hb.score)
        assert (ha.roi.x_offset, ha.roi.width, ha.roi.height) == (hb.roi.x_offset, hb.roi.width, hb.roi.height)
        for field in ("keypoints_2d", "keypoint_confidence", "keypoints_3d", "vertices", "pose", "shape"):
            va, vb = np.asarray(getattr(ha, field)), np.asarray(getattr(hb, field))
            assert va.shape == vb.shape and np.array_equal(va, vb), field
        assert ha.translation.z == hb.translation.z
        assert ha.wrist_pose.position.z == hb.wrist_pose.position.z


def _spin_until(executor, predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        executor.spin_once(timeout_sec=0.05)
        if predicate():
            return True
    return False


def test_round_trip_between_two_nodes(ros_context):
    pub_node = rclpy.create_node("hm_test_pub", context=ros_context)
    sub_node = rclpy.create_node("hm_test_sub", context=ros_context)
    received: list[HandMeshArray] = []
    sub_node.create_subscription(HandMeshArray, TOPIC, received.append, QOS)
    pub = pub_node.create_publisher(HandMeshArray, TOPIC, QOS)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(pub_node)
    executor.add_node(sub_node)
    try:
        assert _spin_until(executor, lambda: pub.get_subscription_count() > 0, 10.0), "no discovery"
        sent = make_array(seed=1)
        pub.publish(sent)
        assert _spin_until(executor, lambda: len(received) > 0, 10.0), "message not received"
        assert_same(sent, received[0])
    finally:
        executor.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()


PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    sys.path.insert(0, sys.argv[1])
    from test_msgs_roundtrip import make_array, TOPIC, QOS
    from hand_mesh_msgs.msg import HandMeshArray
    rclpy.init()
    node = rclpy.create_node("hm_test_remote_pub")
    pub = node.create_publisher(HandMeshArray, TOPIC, QOS)
    end = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    for seed in (7, 8, 9):
        pub.publish(make_array(seed))
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()
    print("published", flush=True)
    """
)


@pytest.mark.slow
def test_received_from_another_process(ros_context, tmp_path):
    """A second OS process is a second DDS participant: the message crosses processes."""
    sub_node = rclpy.create_node("hm_test_local_sub", context=ros_context)
    received: list[HandMeshArray] = []
    sub_node.create_subscription(HandMeshArray, TOPIC, received.append, QOS)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(sub_node)
    script = tmp_path / "remote_publisher.py"
    script.write_text(PUBLISHER_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), os.path.dirname(__file__)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    try:
        assert proc.pid != os.getpid()
        ok = _spin_until(executor, lambda: len(received) >= 3, 30.0)
        out, _ = proc.communicate(timeout=30)
        assert ok, f"received {len(received)} of 3 messages; publisher said:\n{out}"
        assert proc.returncode == 0, out
        for seed, msg in zip((7, 8, 9), received):
            assert_same(make_array(seed), msg)
    finally:
        if proc.poll() is None:
            proc.kill()
        executor.shutdown()
        sub_node.destroy_node()
