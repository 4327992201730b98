"""Benchmark: the node's publish rate under a 100 Hz flood against its rate with input paced at
its own speed, in one run, and where the CPU time goes.

Starts ``hand_mesh_node`` as its own OS process (:class:`~hand_mesh_ros.node_process.NodeProcess`),
then from this process:

1. ``paced``: publishes a frame, waits for its ``HandMeshArray``, publishes the next (the
   node's own speed, no queueing);
2. ``flood``: publishes the same frame at ``--rate`` Hz (default 100) for the same time.

For each phase: results per second, end-to-end latency (result received - image stamp)
p50 / p95, and the CPU seconds per thread of the node (``/proc/<pid>/task/*/stat``: the
executor's main thread, the ``hand_mesh_worker``, inference threads, DDS threads) and of this
publishing process. Prints a table and writes Markdown and JSON (``--output``). Not a test:
numbers depend on the machine and its load.

    python -m hand_mesh_ros.bench_flood --backend two_stage --seconds 10
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from hand_mesh_msgs.msg import HandMeshArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from hand_mesh_core.media import load_rgb
from hand_mesh_core.paths import find_shared_data
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from hand_mesh_ros.node_process import NodeProcess, stamp_now

PREFIX = "/bench_flood"
RELIABLE_DEPTH_10 = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) per thread name of process ``pid`` (threads of one name summed)."""
    out: dict[str, float] = collections.defaultdict(float)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out["main (executor)" if tid == str(pid) else name] += (int(fields[11]) + int(fields[12])) / _TICKS
    return dict(out)


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Client(Node):
    def __init__(self, context) -> None:
        super().__init__("bench_flood_client", context=context)
        self.pub = self.create_publisher(Image, f"{PREFIX}/image", RELIABLE_DEPTH_10)
        self.results: list[tuple[float, float]] = []  # (stamp, received)
        self.diagnostics = 0
        self.create_subscription(HandMeshArray, "/hands/meshes", self._on_result, RELIABLE_DEPTH_10)
        self.create_subscription(DiagnosticArray, "/diagnostics", lambda m: setattr(self, "diagnostics",
                                                                                    self.diagnostics + 1),
                                 RELIABLE_DEPTH_10)

    def _on_result(self, msg: HandMeshArray) -> None:
        self.results.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, time.time()))


def _phase(client, executor, node: NodeProcess, msg, seconds: float, rate_hz: float | None) -> dict:
    """One phase: paced (``rate_hz`` None) or a flood at ``rate_hz``; returns its figures."""
    n0, cpu0, own0 = len(client.results), thread_cpu_seconds(node.pid), _own_cpu()
    t0 = time.monotonic()
    sent = 0
    answered_at_send, t_sent = -1, 0.0
    while (elapsed := time.monotonic() - t0) < seconds:
        if rate_hz is None:  # paced: the next frame once the previous one is answered (or after 5 s)
            if len(client.results) > answered_at_send or time.monotonic() - t_sent > 5.0:
                answered_at_send, t_sent = len(client.results), time.monotonic()
                stamp_now(msg.header)
                client.pub.publish(msg)
                sent += 1
        elif sent < elapsed * rate_hz:
            stamp_now(msg.header)
            client.pub.publish(msg)
            sent += 1
        executor.spin_once(timeout_sec=0.001)
    wall = time.monotonic() - t0
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # the last results
        executor.spin_once(timeout_sec=0.01)
    results = client.results[n0:]
    t_end = time.time() - (time.monotonic() - t0 - wall)
    in_phase = [(s, r) for s, r in results if r <= t_end]
    lat = np.asarray([r - s for s, r in in_phase]) * 1000.0 if in_phase else np.zeros(1)
    cpu1 = thread_cpu_seconds(node.pid)
    threads = {k: round(cpu1.get(k, 0.0) - cpu0.get(k, 0.0), 2) for k in cpu1}
    return {
        "sent": sent, "results": len(in_phase), "rate_hz": len(in_phase) / wall,
        "latency_p50_ms": float(np.percentile(lat, 50)), "latency_p95_ms": float(np.percentile(lat, 95)),
        "node_cpu_s_by_thread": dict(sorted(threads.items(), key=lambda kv: -kv[1])),
        "publisher_cpu_s": round(_own_cpu() - own0, 2), "seconds": round(wall, 2),
    }


def run(backend: str = "two_stage", seconds: float = 10.0, rate_hz: float = 100.0, size=(640, 480),
        extra_params: dict | None = None, image: Path | None = None) -> dict:
    """Run both phases against a fresh node; returns ``{"paced": {...}, "flood": {...}, "ratio": x}``."""
    image = image or find_shared_data() / "images" / "hamer_test1.jpg"
    msg = rgb_to_image_msg(cv2.resize(load_rgb(image), size))
    context = rclpy.Context()
    rclpy.init(context=context)
    node = NodeProcess({"backend": backend, "diagnostics_period": 1.0, **(extra_params or {})},
                       remaps={"image": f"{PREFIX}/image", "camera_info": f"{PREFIX}/camera_info"})
    client = _Client(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    try:
        deadline = time.monotonic() + 120
        while not (client.pub.get_subscription_count() >= 1 and client.diagnostics) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        if not client.diagnostics:
            raise RuntimeError("node did not start:\n" + node.output()[-3000:])
        _phase(client, executor, node, msg, 2.0, None)  # warm-up
        paced = _phase(client, executor, node, msg, seconds, None)
        flood = _phase(client, executor, node, msg, seconds, rate_hz)
    finally:
        executor.shutdown()
        client.destroy_node()
        status, _ = node.stop()
        node.close()
        rclpy.shutdown(context=context)
    return {"backend": backend, "rate_hz": rate_hz, "size": f"{size[0]}x{size[1]}", "paced": paced, "flood": flood,
            "ratio": flood["rate_hz"] / max(paced["rate_hz"], 1e-9), "exit_status": status,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)")}


def to_markdown(rows: list[dict]) -> str:
    lines = ["| backend | phase | sent | published Hz | latency p50 / p95 ms | node CPU s by thread | "
             "publisher CPU s |", "|---|---|---:|---:|---:|---|---:|"]
    for r in rows:
        for phase in ("paced", "flood"):
            p = r[phase]
            threads = ", ".join(f"{k} {v:g}" for k, v in list(p["node_cpu_s_by_thread"].items())[:5])
            lines.append(f"| {r['backend']} | {phase} | {p['sent']} | {p['rate_hz']:.1f} | "
                         f"{p['latency_p50_ms']:.0f} / {p['latency_p95_ms']:.0f} | {threads} | {p['publisher_cpu_s']} |")
        lines.append(f"| {r['backend']} | flood / paced | | **{r['ratio']:.2f}** | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", help="two_stage and/or single_stage (repeat); default both")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=100.0, help="flood rate, Hz")
    parser.add_argument("--param", action="append", default=[], help="extra node parameter NAME:=VALUE")
    parser.add_argument("--output", type=Path, default=Path("output/bench_flood"))
    args = parser.parse_args(argv)
    extra = dict(p.split(":=", 1) for p in args.param)
    rows = [run(b, args.seconds, args.rate, extra_params=extra) for b in args.backend or ["two_stage", "single_stage"]]
    table = to_markdown(rows)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(table)
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
