"""Benchmark: end-to-end latency image published -> ``HandMeshArray`` received.

Starts ``hand_mesh_node`` as its own OS process (as on a robot: the camera driver and the
node are different processes), publishes frames of a video from this process and receives
the results here. Latency = receive wall time - the image's header stamp (set at publish
time); the node's own ``processing_time`` (image received -> result published) is
reported beside it. Two modes:

* ``paced``: the next frame is published once the previous result arrived (no queueing:
  the latency of one frame through DDS, decoding, inference and serialisation);
* ``stream``: frames at the video's own rate; a busy node drops frames (counted) and the
  latency includes waiting behind the frame in progress.

Prints a table and writes it as Markdown and JSON (``--output``, default
``output/bench_latency.md`` / ``.json``). Not a test: numbers depend on the machine.

    python -m hand_mesh_ros.bench_latency --video ../shared/data/video/mmaction2_demo.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from hand_mesh_msgs.msg import HandMeshArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.media import FrameSource
from hand_mesh_core.paths import find_shared_data
from hand_mesh_ros.camera_info import camera_info_msg
from hand_mesh_ros.diagnostics import diagnostic_values
from hand_mesh_ros.image_conversion import rgb_to_image_msg

_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
PREFIX = "/bench_latency"


class _Client(Node):
    def __init__(self, context) -> None:
        super().__init__("bench_latency_client", context=context)
        self.image_pub = self.create_publisher(Image, f"{PREFIX}/image", _QOS)
        self.info_pub = self.create_publisher(CameraInfo, f"{PREFIX}/camera_info", _QOS)
        self.results: list[tuple[float, float, float, int]] = []  # (stamp, received, processing_time, hands)
        self.diagnostics: dict[str, str] | None = None
        self.create_subscription(HandMeshArray, "/hands/meshes", self._on_result, _QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, _QOS)

    def _on_result(self, msg: HandMeshArray) -> None:
        now = time.time()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.results.append((stamp, now, float(msg.processing_time), len(msg.hands)))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        values = diagnostic_values(msg, "hand_mesh_node: hand reconstruction")
        if values is not None:
            self.diagnostics = values

    def publish(self, rgb: np.ndarray, K: np.ndarray) -> float:
        img = rgb_to_image_msg(rgb)
        now = time.time()
        img.header.stamp.sec, img.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
        img.header.frame_id = "camera_optical_frame"
        info = camera_info_msg(K, rgb.shape[1], rgb.shape[0])
        info.header = img.header
        self.info_pub.publish(info)
        self.image_pub.publish(img)
        return now


def _spin_until(executor, condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        executor.spin_once(timeout_sec=0.005)
    return condition()


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64) * 1000.0
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()), "max_ms": float(a.max())}


def run(video: Path, frames: int, backend: str, device: str, warmup: int = 5) -> dict:
    """Run both modes; returns a JSON-ready dict of the figures."""
    source = FrameSource(video)
    images = [f.rgb for _, f in zip(range(frames + warmup), source)]
    if not images:
        raise ValueError(f"no frames in {video}")
    h, w = images[0].shape[:2]
    K = intrinsics_from_fov(w, h)
    log = tempfile.TemporaryFile(mode="w+")  # the node's log (a pipe could fill up and block it)
    node = subprocess.Popen(
        [sys.executable, "-m", "hand_mesh_ros.hand_mesh_node", "--ros-args",
         "-r", f"image:={PREFIX}/image", "-r", f"camera_info:={PREFIX}/camera_info",
         "-p", f"backend:={backend}", "-p", f"device:={device}", "-p", "publish_markers:=false"],
        stdout=log, stderr=subprocess.STDOUT, text=True)
    context = rclpy.Context()
    rclpy.init(context=context)
    client = _Client(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    out: dict = {"video": str(video), "image_size": f"{w}x{h}", "backend": backend,
                 "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"}
    try:
        if not _spin_until(executor, lambda: client.image_pub.get_subscription_count() >= 1
                           and client.diagnostics is not None, 120):
            log.seek(0)
            raise RuntimeError("hand_mesh_node did not come up:\n" + log.read()[-3000:])
        out["device"] = client.diagnostics.get("device", "?")
        # paced: one frame in flight at a time
        for i, rgb in enumerate(images):
            n = len(client.results)
            client.publish(rgb, K)
            if not _spin_until(executor, lambda: len(client.results) > n, 30):
                raise RuntimeError(f"no result for paced frame {i}")
        paced = client.results[warmup:]
        out["paced"] = {
            "end_to_end": _stats([r - s for s, r, _, _ in paced]),
            "node_processing": _stats([p for _, _, p, _ in paced]),
            "hands_per_frame": float(np.mean([n for *_, n in paced])),
        }
        # stream: the video's own rate, whatever the node keeps up with
        client.results.clear()
        period = 1.0 / source.fps
        t_next = time.monotonic()
        published = 0
        for rgb in images[warmup:]:
            _spin_until(executor, lambda: time.monotonic() >= t_next, period + 1)
            client.publish(rgb, K)
            published += 1
            t_next += period
        _spin_until(executor, lambda: False, 3.0)  # let the last result arrive
        streamed = client.results
        out["stream"] = {
            "rate_hz": source.fps, "published": published, "results": len(streamed),
            "end_to_end": _stats([r - s for s, r, _, _ in streamed]),
            "node_processing": _stats([p for _, _, p, _ in streamed]),
        }
        _spin_until(executor, lambda: False, 1.2)  # one more diagnostics message
        if client.diagnostics:
            out["stream"]["node_dropped_total"] = int(client.diagnostics["frames_dropped"])
    finally:
        executor.shutdown()
        client.destroy_node()
        rclpy.shutdown(context=context)
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
    return out


def markdown(r: dict) -> str:
    """The figures as a Markdown table."""
    rows = []
    for mode in ("paced", "stream"):
        for what in ("end_to_end", "node_processing"):
            s = r[mode][what]
            rows.append(f"| {mode} | {what.replace('_', ' ')} | {s['n']} | {s.get('p50_ms', float('nan')):.1f} | "
                        f"{s.get('p95_ms', float('nan')):.1f} | {s.get('mean_ms', float('nan')):.1f} | "
                        f"{s.get('max_ms', float('nan')):.1f} |")
    st = r["stream"]
    return "\n".join([
        f"# hand_mesh_node latency ({r['backend']} on {r['device']}, {r['image_size']}, {r['machine']})",
        "",
        f"Input: `{r['video']}`. End to end = image header stamp (publish) -> HandMeshArray received in "
        "another process; node processing = image received -> result published, inside the node.",
        "",
        "| mode | latency | frames | p50 ms | p95 ms | mean ms | max ms |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Paced: {r['paced']['hands_per_frame']:.2f} hands per frame. Stream at {st['rate_hz']:.1f} Hz: "
        f"{st['published']} frames published, {st['results']} results "
        f"(node drops since start: {st.get('node_dropped_total', '?')}).",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (see the module docstring)."""
    shared = find_shared_data()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", default=str(shared / "video" / "mmaction2_demo.mp4") if shared else None,
                    required=shared is None)
    ap.add_argument("--frames", type=int, default=60, help="frames per mode (after warm-up)")
    ap.add_argument("--backend", default="two_stage")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--output", default="output/bench_latency", help="path without suffix for .md and .json")
    args = ap.parse_args(argv)
    result = run(Path(args.video), args.frames, args.backend, args.device)
    text = markdown(result)
    print(text)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2))
    print(f"written {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
