"""A 100 Hz flood of real 640x480 images for 10 s: the node's memory stays flat, its backlog
bounded, drops are counted, and it still answers afterwards.

The node runs as its own OS process (``python -m hand_mesh_ros.hand_mesh_node``, the
console-script entry point) so that its resident memory (``/proc/<pid>/status``) is its own.
An unbounded queue would grow by ~0.9 MB per unprocessed frame (~700 MB here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from hand_mesh_msgs.msg import HandMeshArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from hand_mesh_core.media import load_rgb
from hand_mesh_ros.diagnostics import diagnostic_values
from hand_mesh_ros.hand_mesh_node import NODE_NAME
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from ros_test_helpers import RELIABLE, Collector, spin_until

pytestmark = pytest.mark.slow

FLOOD_HZ, FLOOD_S = 100.0, 10.0


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc to read the node's memory")
def test_flood_keeps_memory_flat_and_backlog_bounded(ros_context, shared_data):
    rgb = cv2.resize(load_rgb(shared_data / "images" / "hamer_test1.jpg"), (640, 480))  # two hands to fit
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hand_mesh_ros.hand_mesh_node", "--ros-args", "-r", "image:=/flood/image",
         "-r", "camera_info:=/flood/camera_info", "-p", "diagnostics_period:=0.5"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    client = Node("flood_client", context=ros_context)
    pub = client.create_publisher(type(rgb_to_image_msg(rgb)), "/flood/image", RELIABLE)
    out = Collector({"/hands/meshes": HandMeshArray, "/diagnostics": DiagnosticArray}, ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(client)
    executor.add_node(out)
    try:
        ok = spin_until(executor, lambda: pub.get_subscription_count() >= 1 and out.messages["/diagnostics"], 90)
        if not ok:
            log.seek(0)
            pytest.fail("node did not start:\n" + log.read()[-3000:])
        msg = rgb_to_image_msg(rgb)
        rss = []
        t0 = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - t0) < FLOOD_S:
            if sent < elapsed * FLOOD_HZ:
                now = time.time()
                msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
                pub.publish(msg)
                sent += 1
            executor.spin_once(timeout_sec=0.002)
            if len(rss) < elapsed:  # one sample per second
                rss.append(_rss_mb(proc.pid))
        assert sent >= 0.9 * FLOOD_HZ * FLOOD_S
        # after the flood: the node drains at once (bounded backlog) and answers a new frame
        spin_until(executor, lambda: False, 1.5)
        n = len(out.messages["/hands/meshes"])
        pub.publish(msg)
        assert spin_until(executor, lambda: len(out.messages["/hands/meshes"]) > n, 20)
        spin_until(executor, lambda: False, 1.2)
        d = diagnostic_values(out.messages["/diagnostics"][-1], f"{NODE_NAME}: hand reconstruction")
        pending_max = max(int(diagnostic_values(a, f"{NODE_NAME}: hand reconstruction")["frames_pending"])
                          for a in out.messages["/diagnostics"])
    finally:
        executor.shutdown()
        client.destroy_node()
        out.destroy_node()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    received, processed = int(d["frames_received"]), int(d["frames_processed"])
    dropped, malformed = int(d["frames_dropped"]), int(d["frames_malformed"])
    # 'n/a' where the middleware gives no sequence numbers (Humble; Jazzy's rmw_fastrtps)
    lost = None if d["frames_lost_before_callback"] == "n/a" else int(d["frames_lost_before_callback"])
    print(f"flood: sent {sent + 1}, received {received}, lost before callback {lost}, processed {processed}, "
          f"dropped {dropped}, "
          f"RSS MB per second {[round(r) for r in rss]}")
    # DDS's keep-last reader queue (depth 2) drops what the node's executor cannot take in
    # while inference loads the CPU (measured here: ~65% of 1000 arrive); still a flood
    assert received >= 0.3 * (sent + 1)
    assert processed + dropped + malformed + int(d["frames_undecodable"]) + int(d["inference_errors"]) == received
    # every frame accounted for, none queued; and those the reader's keep-last history replaced
    # before the callback are counted too (all but the ones after the last received, <= depth 2)
    if lost is not None:
        assert sent + 1 - 2 <= received + lost <= sent + 1, (sent + 1, received, lost)
    assert dropped > 0  # MediaPipe + fitting on a CPU cannot keep up with 100 Hz: drops, counted
    assert pending_max <= 2
    growth = max(rss[3:]) - rss[2]  # after 2 s of warm-up
    assert growth < 60.0, f"node RSS grew by {growth:.0f} MB during the flood: {rss}"
