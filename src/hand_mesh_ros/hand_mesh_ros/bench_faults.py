"""Fault campaign: drive ``hand_mesh_node`` processes with bad input, a flood and SIGINTs.

Per backend, over real DDS from this process, with a seeded random mix:

1. ``storm``: a raw-image node gets malformed ``Image`` messages (unknown encoding, zero
   size, wrong step, truncated data, absurd declared size, odd 4:2:2 width) and bad
   ``CameraInfo`` messages (NaN, inf, zero, negative, 1e30 focal lengths) interleaved with
   real 640x480 frames; a compressed-input node gets undecodable payloads, empty ones,
   ``compressedDepth``, JPEG / PNG decompression bombs and JPEGs whose pixels are cut,
   interleaved with real JPEG frames;
2. ``flood``: the raw node gets real frames at 100 Hz for ``flood_s`` seconds;
3. ``sigint``: the raw node is stopped with SIGINT during the flood, then fresh nodes are
   started, flooded briefly and stopped with SIGINT until ``sigints`` stops were made (the
   compressed node's stop, also by SIGINT during real frames, counts as one).

It prints a table and writes Markdown and JSON (``--output``): messages sent by kind, what
the node counted (``/diagnostics``), real frames answered during the storm, crashes (exit
status not 0), tracebacks and error lines in the nodes' output, RSS after start (idle), at
10 s into the flood and at its end, peak RSS (``VmHWM``), the published rate and latency
p50 / p95 under the flood, exit status and seconds per SIGINT.

    python -m hand_mesh_ros.bench_faults --seed 0 --messages 10000 --flood 60 --sigints 20

Not a unit test: ``test_bench_faults.py`` runs a short seeded campaign and checks the
invariants (no crash, no traceback, status 0, bombs refused without memory growth).
"""

from __future__ import annotations

import argparse
import array
import collections
import json
import signal
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
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.media import load_rgb
from hand_mesh_core.paths import find_shared_data
from hand_mesh_ros.camera_info import camera_info_msg
from hand_mesh_ros.diagnostics import diagnostic_values
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from hand_mesh_ros.malformed_inputs import (
    camera_info_with, compressed, jpeg_bomb, png_bomb, png_without_pixels, raw_declaring)
from hand_mesh_ros.node_process import NodeProcess, flood, stamp_now

PREFIX = "/faults"
QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
DIAG = "hand_mesh_node: hand reconstruction"
#: Share of real frames in the storms.
REAL_SHARE = 0.1
#: Messages per second in the storms.
STORM_HZ = 200.0


def _raw_kinds(good: Image) -> dict[str, callable]:
    def copy(**fields) -> Image:
        m = Image(height=good.height, width=good.width, encoding=good.encoding, step=good.step, data=good.data)
        for k, v in fields.items():
            setattr(m, k, v)
        return m

    half = array.array("B", bytes(good.data)[: len(good.data) // 2])
    return {
        "raw: unknown encoding": lambda: copy(encoding="bayer_weird42"),
        "raw: zero size": lambda: copy(width=0, height=0, step=0, data=array.array("B")),
        "raw: wrong step": lambda: copy(step=good.width * 3 - 3),
        "raw: truncated data": lambda: copy(data=half),
        "raw: absurd declared size": lambda: raw_declaring(100_000, 100_000),
        "raw: odd width yuv422": lambda: Image(width=5, height=3, encoding="yuv422", step=10,
                                               data=array.array("B", bytes(30))),
    }


def _bad_infos() -> dict[str, callable]:
    return {
        "camera_info: NaN K": lambda: camera_info_with(np.nan, 500, 320, 240),
        "camera_info: inf K": lambda: camera_info_with(np.inf, np.inf, 320, 240),
        "camera_info: zero K": lambda: camera_info_with(0, 0, 0, 0),
        "camera_info: negative K": lambda: camera_info_with(-500, -500, 320, 240, 640, 480),
        "camera_info: fx=fy=1e30": lambda: camera_info_with(1e30, 1e30, 320, 240, 640, 480),
    }


def _compressed_kinds() -> dict[str, callable]:
    bombs = {"jpeg 20000x20000": jpeg_bomb(20000, 20000), "jpeg 65000x65000": jpeg_bomb(65000, 65000),
             "png 1 Gpx": png_bomb(32768, 32768)}
    kinds = {f"compressed: bomb {k}": (lambda v=v: compressed(v)) for k, v in bombs.items()}
    kinds.update({
        "compressed: not an image": lambda: compressed(bytes(range(256)) * 4),
        "compressed: empty": lambda: compressed(b""),
        "compressed: compressedDepth": lambda: compressed(b"\x00" * 64, "16UC1; compressedDepth png"),
        "compressed: png without pixels": lambda: compressed(png_without_pixels(), "png"),
    })
    return kinds


class _Client(Node):
    def __init__(self, context) -> None:
        super().__init__("fault_campaign_client", context=context)
        self.raw_pub = self.create_publisher(Image, f"{PREFIX}/raw/image", QOS)
        self.info_pub = self.create_publisher(CameraInfo, f"{PREFIX}/raw/camera_info", QOS)
        self.jpeg_pub = self.create_publisher(CompressedImage, f"{PREFIX}/jpeg/image", QOS)
        self.results: list[tuple[float, float]] = []  # (stamp, received wall time)
        self.diagnostics: list[dict] = []
        self.create_subscription(HandMeshArray, "/hands/meshes", self._on_result, QOS)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, QOS)

    def _on_result(self, msg: HandMeshArray) -> None:
        self.results.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, time.time()))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        values = diagnostic_values(msg, DIAG)
        if values is not None:
            self.diagnostics.append(values)


def _spin(executor, seconds: float, until=None) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if until is not None and until():
            return True
        executor.spin_once(timeout_sec=0.01)
    return until() if until is not None else True


def _start(executor, client, params: dict, prefix: str, pub) -> NodeProcess:
    node = NodeProcess(params, remaps={"image": f"{prefix}/image", "camera_info": f"{prefix}/camera_info"})
    n = len(client.diagnostics)
    if not _spin(executor, 120, lambda: pub.get_subscription_count() >= 1 and len(client.diagnostics) > n):
        raise RuntimeError("node did not start:\n" + node.output()[-3000:])
    return node


def _peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024.0 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return float("nan")


def _log_problems(log: str) -> tuple[int, int]:
    """(tracebacks, error lines) in a node's output."""
    lines = log.splitlines()
    return sum("Traceback" in ln for ln in lines), sum("[ERROR]" in ln or "processing failed" in ln for ln in lines)


def _storm(executor, client, pub, rng, kinds: dict, real, n_messages: int, sent: collections.Counter,
           real_stamps: list, info_kinds: dict | None = None) -> None:
    names = list(kinds) + list(info_kinds or {})
    for i in range(n_messages):
        t_next = time.monotonic() + 1.0 / STORM_HZ
        if rng.random() < REAL_SHARE:
            msg, kind = real(), "real frame"
            stamp_now(msg.header)
            real_stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)
            pub.publish(msg)
        else:
            kind = names[int(rng.integers(len(names)))]
            if kind in kinds:
                msg = kinds[kind]()
                stamp_now(msg.header)
                pub.publish(msg)
            else:
                info = info_kinds[kind]()
                stamp_now(info.header)
                client.info_pub.publish(info)
        sent[kind] += 1
        while time.monotonic() < t_next:
            executor.spin_once(timeout_sec=0.001)


def run_backend(backend: str, *, seed: int = 0, messages: int = 1000, flood_s: float = 10.0, sigints: int = 3,
                extra_params: dict | None = None) -> dict:
    """The campaign for one backend; returns its figures (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rgb = cv2.resize(load_rgb(find_shared_data() / "images" / "hamer_test1.jpg"), (640, 480))
    good = rgb_to_image_msg(rgb)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    real_jpeg = jpeg.tobytes()
    params = {"backend": backend, "diagnostics_period": 0.5, **(extra_params or {})}
    context = rclpy.Context()
    rclpy.init(context=context)
    client = _Client(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(client)
    sent: collections.Counter = collections.Counter()
    out = {"backend": backend, "seed": seed, "stops": [], "tracebacks": 0, "error_lines": 0, "crashes": 0}

    def finish(node: NodeProcess, sig_during: str) -> None:
        status, seconds = node.stop(signal.SIGINT)
        tb, err = _log_problems(node.output())
        out["tracebacks"] += tb
        out["error_lines"] += err
        out["crashes"] += int(status != 0)
        out["stops"].append({"during": sig_during, "status": status, "seconds": round(seconds, 2)})
        if status != 0 or tb:
            out.setdefault("failed_logs", []).append(node.output()[-3000:])
        node.close()

    try:
        # 1a. storm on the compressed node
        jnode = _start(executor, client, {**params, "compressed_input": True}, f"{PREFIX}/jpeg", client.jpeg_pub)
        idle_j = jnode.rss_mb()
        real_stamps: list[float] = []
        _storm(executor, client, client.jpeg_pub, rng, _compressed_kinds(),
               lambda: CompressedImage(format="jpeg", data=array.array("B", real_jpeg)), messages // 2, sent,
               real_stamps)
        _spin(executor, 2.0)
        answered = {s for s, _ in client.results}
        out["real_jpeg_answered"] = f"{sum(s in answered for s in real_stamps)}/{len(real_stamps)}"
        out["compressed_counts"] = {k: client.diagnostics[-1][k] for k in (
            "frames_received", "frames_lost_before_callback", "frames_malformed", "frames_undecodable",
            "frames_dropped", "frames_processed", "inference_errors")}
        out["compressed_rss_mb"] = {"idle": round(idle_j, 1), "peak": round(_peak_rss_mb(jnode.pid), 1)}
        finish(jnode, "storm (compressed)")

        # 1b. storm on the raw node, camera_infos included
        node = _start(executor, client, params, f"{PREFIX}/raw", client.raw_pub)
        idle = node.rss_mb()
        client.info_pub.publish(camera_info_msg(intrinsics_from_fov(640, 480, 60.0), 640, 480))
        real_stamps = []
        _storm(executor, client, client.raw_pub, rng, _raw_kinds(good), lambda: good, messages - messages // 2,
               sent, real_stamps, _bad_infos())
        _spin(executor, 2.0)
        answered = {s for s, _ in client.results}
        out["real_raw_answered"] = f"{sum(s in answered for s in real_stamps)}/{len(real_stamps)}"
        d = client.diagnostics[-1]
        out["raw_counts"] = {k: d[k] for k in (
            "frames_received", "frames_lost_before_callback", "frames_malformed", "frames_undecodable",
            "frames_dropped", "frames_processed", "inference_errors", "camera_infos_received",
            "camera_infos_rejected")}

        # 2. flood, then the first SIGINT during it
        rss: list[float] = []
        n0 = len(client.results)
        t_flood = time.time()

        def publish() -> None:
            stamp_now(good.header)
            client.raw_pub.publish(good)

        sent["flood frame"] += flood(executor, publish, 100.0, flood_s, every_second=lambda: rss.append(node.rss_mb()))
        flood_results = [(s, r) for s, r in client.results[n0:] if s >= t_flood]
        lat = np.asarray([r - s for s, r in flood_results]) * 1000.0 if flood_results else np.zeros(1)
        out["rss_mb"] = {"idle": round(idle, 1), "at_10s": round(rss[min(10, len(rss) - 1)], 1),
                         "end": round(rss[-1], 1), "peak": round(_peak_rss_mb(node.pid), 1)}
        out["flood"] = {"published_hz": round(len(flood_results) / flood_s, 1),
                        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1),
                        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1)}
        publish()
        finish(node, "flood")

        # 3. fresh nodes, each flooded briefly and stopped by SIGINT
        while len(out["stops"]) < sigints:
            node = _start(executor, client, params, f"{PREFIX}/raw", client.raw_pub)
            sent["flood frame"] += flood(executor, publish, 100.0, 1.5)
            publish()
            finish(node, "flood (fresh node)")
    finally:
        executor.shutdown()
        client.destroy_node()
        rclpy.shutdown(context=context)
    out["sent"] = dict(sorted(sent.items()))
    return out


def to_markdown(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        lines += [f"## {r['backend']} (seed {r['seed']})", "", "| kind | messages sent |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in r["sent"].items()]
        lines += ["", "| figure | value |", "|---|---|"]
        lines += [f"| raw node counted | {r['raw_counts']} |", f"| compressed node counted | {r['compressed_counts']} |",
                  f"| real frames answered during the storm | raw {r['real_raw_answered']}, "
                  f"compressed {r['real_jpeg_answered']} |",
                  f"| crashes (exit status not 0) | {r['crashes']} |", f"| tracebacks | {r['tracebacks']} |",
                  f"| error lines | {r['error_lines']} |",
                  f"| RSS MB raw node: idle / 10 s into the flood / end / peak | {r['rss_mb']['idle']} / "
                  f"{r['rss_mb']['at_10s']} / {r['rss_mb']['end']} / {r['rss_mb']['peak']} |",
                  f"| RSS MB compressed node (bombs): idle / peak | {r['compressed_rss_mb']['idle']} / "
                  f"{r['compressed_rss_mb']['peak']} |",
                  f"| flood: published Hz, latency p50 / p95 ms | {r['flood']['published_hz']}, "
                  f"{r['flood']['latency_p50_ms']} / {r['flood']['latency_p95_ms']} |",
                  "| SIGINTs: status in seconds | " + ", ".join(f"{s['status']} in {s['seconds']} s"
                                                            for s in r["stops"]) + " |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", help="two_stage and/or single_stage (repeat); default both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--messages", type=int, default=1000, help="storm messages per backend (both nodes)")
    parser.add_argument("--flood", type=float, default=10.0, help="flood seconds")
    parser.add_argument("--sigints", type=int, default=3, help="SIGINT stops per backend (>= 2)")
    parser.add_argument("--output", type=Path, default=Path("output/bench_faults"))
    args = parser.parse_args(argv)
    rows = [run_backend(b, seed=args.seed, messages=args.messages, flood_s=args.flood, sigints=args.sigints)
            for b in args.backend or ["two_stage", "single_stage"]]
    table = to_markdown(rows)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".md").write_text(table)
    args.output.with_suffix(".json").write_text(json.dumps(rows, indent=2))
    return int(any(r["crashes"] or r["tracebacks"] for r in rows))


if __name__ == "__main__":
    raise SystemExit(main())
