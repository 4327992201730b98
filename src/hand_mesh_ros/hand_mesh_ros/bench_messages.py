"""Benchmark: cost of a 2-hand ``HandMeshArray`` — building, CDR serialisation, and the
publish-to-receive latency between two OS processes over DDS.

The message is real: the two-stage backend's hands on ``shared/data/images/hamer_test1.jpg``
(two hands), converted with :func:`hand_mesh_ros.mesh_messages.prediction_to_msg`.
A second process (this module with ``--receiver``) subscribes and records, for each message,
its receive wall time minus the header stamp written just before ``publish()``; both
processes read the same clock. Reliable QoS, keep-last 10, one message every ``--period``
seconds (no queueing).

Prints a table and writes ``<out>/bench_messages.md`` and ``.json`` (``--out``, default
``output/bench``). Not a test: the numbers depend on the machine and its load.

    python -m hand_mesh_ros.bench_messages --count 200 --out output/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message

from hand_mesh_msgs.msg import HandMeshArray

TOPIC = "/bench_messages/hands"
QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def _now_stamp(msg: HandMeshArray) -> None:
    now = time.time()
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1.0) * 1e9)


def build_message() -> tuple[HandMeshArray, dict]:
    """The 2-hand message of hamer_test1.jpg and the time (ms) to build it from the prediction."""
    from std_msgs.msg import Header

    from hand_mesh_core import create_predictor
    from hand_mesh_core.bench.report import median_ms
    from hand_mesh_core.media import load_rgb
    from hand_mesh_core.paths import find_shared_data
    from hand_mesh_ros.mesh_messages import prediction_to_msg

    data = find_shared_data()
    if data is None:
        raise SystemExit("bench_messages: ../shared/data not found (set HAND_MESH_SHARED_DATA)")
    prediction = create_predictor("two_stage").predict(load_rgb(data / "images" / "hamer_test1.jpg"))
    if len(prediction) < 2:
        raise SystemExit(f"bench_messages: expected 2 hands on hamer_test1.jpg, got {len(prediction)}")
    del prediction[2:]
    header = Header(frame_id="camera_optical_frame")
    build = median_ms(lambda: prediction_to_msg(prediction, header, intrinsics_source="camera_info"), 50)
    return prediction_to_msg(prediction, header, intrinsics_source="camera_info"), {"build_ms": build}


def receiver(result_path: str, count: int) -> int:
    """Subscribe, record ``receive time - stamp`` for ``count`` messages, write them as JSON."""
    rclpy.init()
    node = rclpy.create_node("bench_messages_receiver")
    latencies: list[float] = []

    def on_msg(msg: HandMeshArray) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        latencies.append((time.time() - stamp) * 1e3)

    node.create_subscription(HandMeshArray, TOPIC, on_msg, QOS)
    deadline = time.monotonic() + 60 + count * 0.2
    while len(latencies) < count and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    Path(result_path).write_text(json.dumps(latencies))
    node.destroy_node()
    rclpy.shutdown()
    return 0 if len(latencies) == count else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200, help="messages published")
    ap.add_argument("--period", type=float, default=0.05, help="seconds between messages")
    ap.add_argument("--out", default="output/bench", help="folder for bench_messages.md/.json")
    ap.add_argument("--receiver", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.receiver:
        return receiver(args.receiver, args.count)

    from hand_mesh_core.bench.report import latency_summary, machine_meta, markdown_table, median_ms, write_report

    msg, meta = build_message()
    blob = serialize_message(msg)
    meta["bytes"] = len(blob)
    meta["serialize_ms"] = median_ms(lambda: serialize_message(msg), 100)
    meta["deserialize_ms"] = median_ms(lambda: deserialize_message(blob, HandMeshArray), 100)

    result = Path(args.out) / "bench_messages_receiver.json"
    result.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "hand_mesh_ros.bench_messages", "--receiver", str(result),
                             "--count", str(args.count)], env=dict(os.environ))
    rclpy.init()
    node = rclpy.create_node("bench_messages_publisher")
    pub = node.create_publisher(HandMeshArray, TOPIC, QOS)
    end = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.5)
    for _ in range(args.count):
        _now_stamp(msg)
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.0)
        time.sleep(args.period)
    status = proc.wait(timeout=120)
    node.destroy_node()
    rclpy.shutdown()
    latencies = json.loads(result.read_text()) if result.exists() else []
    result.unlink(missing_ok=True)
    if not latencies:
        print("bench_messages: the receiver got no message", file=sys.stderr)
        return 1
    lat = latency_summary(latencies)
    rows = [
        ["message size", f"{meta['bytes'] / 1024:.1f} KiB", "2 hands x 1159 vertices + 2 x 2314 faces"],
        ["build from Prediction", f"{meta['build_ms']:.2f} ms", "median of 50"],
        ["serialize (CDR)", f"{meta['serialize_ms']:.3f} ms", "median of 100"],
        ["deserialize (CDR)", f"{meta['deserialize_ms']:.3f} ms", "median of 100"],
        ["publish -> receive, other process", f"{lat['median_ms']:.2f} ms (p95 {lat['p95_ms']:.2f})",
         f"{len(latencies)}/{args.count} received, every {args.period * 1e3:.0f} ms"],
    ]
    table = markdown_table(["what", "value", "notes"], rows)
    machine = machine_meta()
    md = f"# HandMeshArray cost (2 hands)\n\nCPU: {machine['cpu']}\n\n{table}\n"
    print(md)
    write_report(args.out, "bench_messages", md, {"machine": machine, **meta, "latency": lat,
                                                  "latencies_ms": latencies, "received": len(latencies)})
    return status


if __name__ == "__main__":
    sys.exit(main())
