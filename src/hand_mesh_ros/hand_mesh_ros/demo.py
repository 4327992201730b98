"""The demo behind ``make demo``: real video in, hand meshes out over ROS 2, recorded.

Runs in one process through rclpy (no ``ros2`` command needed, so it works with only the
PyPI ROS wheels):

* ``image_source`` publishes the input (video file, image folder or ``camera:N``) on
  ``/camera/image_raw`` + ``/camera/camera_info`` at the source's rate (or ``--rate``);
* ``hand_mesh_node`` reconstructs the hands (dropping frames while busy, as on a robot);
* a recorder writes ``/camera/image_raw``, ``/camera/camera_info``, ``/hands/meshes`` and
  ``/hands/markers`` to an MCAP bag (``<output>/demo_bag/``, see
  :mod:`hand_mesh_ros.bag_recorder`) that ``ros2 bag`` and Foxglove open;
* an overlay writer draws every received ``HandMeshArray`` on its image (from the message
  alone, via :func:`hand_mesh_ros.mesh_messages.prediction_from_msg`) into
  ``<output>/demo_overlay.mp4``, and a contact sheet of frames with hands into
  ``<output>/demo_contact_sheet.png``.

It ends with a one-line summary: frames in, frames processed, drops, hands per frame,
end-to-end latency (image stamp -> HandMeshArray received) p50/p95.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import queue
import shutil
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from hand_mesh_msgs.msg import HandMeshArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from hand_mesh_core.media import FrameSource
from hand_mesh_core.viz import contact_sheet
from hand_mesh_ros.bag_recorder import McapBagRecorder
from hand_mesh_ros.hand_mesh_node import HandMeshNode
from hand_mesh_ros.image_conversion import msg_to_rgb
from hand_mesh_ros.image_source import ImageSource
from hand_mesh_ros.mesh_messages import prediction_from_msg
from hand_mesh_ros.node_main import STARTUP_ERRORS

IMAGE_TOPIC, INFO_TOPIC = "/camera/image_raw", "/camera/camera_info"
MESHES_TOPIC, MARKERS_TOPIC = "/hands/meshes", "/hands/markers"
BAG_NAME, VIDEO_NAME, SHEET_NAME = "demo_bag", "demo_overlay.mp4", "demo_contact_sheet.png"
#: Images kept to pair with their HandMeshArray (bounded; the node answers within a few).
IMAGE_MEMORY = 64
#: Frames on the contact sheet.
SHEET_FRAMES = 12
_QOS = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


@dataclasses.dataclass
class DemoSummary:
    """What the demo did. Latencies in milliseconds, paths absolute."""

    input: str
    frames_in: int
    frames_processed: int
    frames_dropped: int
    frames_malformed: int
    results_received: int
    hands_per_frame: float
    max_hands: int
    frames_with_hands: int
    latency_p50_ms: float
    latency_p95_ms: float
    wall_s: float
    bag: Path
    bag_counts: dict[str, int]
    video: Path | None
    contact_sheet: Path | None

    def line(self) -> str:
        """The one-line summary printed at the end."""
        return (
            f"demo: frames in {self.frames_in}, processed {self.frames_processed}, dropped {self.frames_dropped}, "
            f"malformed {self.frames_malformed}; hands per frame {self.hands_per_frame:.2f} (max {self.max_hands}, "
            f"{self.frames_with_hands} frames with hands); latency p50 {self.latency_p50_ms:.0f} ms, "
            f"p95 {self.latency_p95_ms:.0f} ms; {self.wall_s:.1f} s; bag {self.bag} "
            f"({sum(self.bag_counts.values())} messages)"
        )


class OverlayWriter(Node):
    """Pairs each ``HandMeshArray`` with its image; a thread draws and writes the video.

    The video runs at the input's frame rate: each overlay is held until the next result's
    image time, so the video lasts as long as the input and shows what a viewer of
    ``/hands/markers`` saw. Also measures end-to-end latency (image header stamp -> result
    received, wall clock).
    """

    def __init__(self, video_path: Path, **node_kwargs) -> None:
        super().__init__("demo_overlay", **node_kwargs)
        self.video_path = video_path
        self._images: collections.OrderedDict[tuple[int, int], Image] = collections.OrderedDict()
        self._queue: queue.Queue = queue.Queue(maxsize=16)
        self.latencies_ms: list[float] = []
        self.hands: list[int] = []
        self.unpaired = 0
        self.written = 0  # video frames
        self.results_drawn = 0
        self.frames_with_hands: list[int] = []  # indices into the overlay video
        self.fps = 10.0  # frame rate of the overlay video (the demo sets the input's)
        self._t_first: float | None = None
        self._writer: cv2.VideoWriter | None = None
        self._held: np.ndarray | None = None  # BGR overlay waiting for its display length
        self._thread = threading.Thread(target=self._write_loop, name="demo_overlay", daemon=True)
        self._thread.start()
        self.create_subscription(Image, IMAGE_TOPIC, self._on_image, _QOS)
        self.create_subscription(HandMeshArray, MESHES_TOPIC, self._on_meshes, _QOS)

    @staticmethod
    def _key(msg) -> tuple[int, int]:
        return (msg.header.stamp.sec, msg.header.stamp.nanosec)

    def _on_image(self, msg: Image) -> None:
        self._images[self._key(msg)] = msg
        while len(self._images) > IMAGE_MEMORY:
            self._images.popitem(last=False)

    def _on_meshes(self, msg: HandMeshArray) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.latencies_ms.append((time.time() - stamp) * 1000.0)
        self.hands.append(len(msg.hands))
        image = self._images.get(self._key(msg))
        if image is None:
            self.unpaired += 1
            return
        self._queue.put((image, msg))  # blocks when the writer lags: bounded memory

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            image, msg = item
            try:
                rgb = msg_to_rgb(image)
                overlay = prediction_from_msg(msg).plot(rgb)
                if self._writer is None:
                    h, w = overlay.shape[:2]
                    self._writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"),
                                                   self.fps, (w, h))
                    if not self._writer.isOpened():
                        raise RuntimeError(f"OpenCV cannot write {self.video_path}")
                stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
                if self._t_first is None:
                    self._t_first = stamp
                # the previous overlay is held until this image's time (video frame `target`)
                target = round((stamp - self._t_first) * self.fps)
                self._flush_held(max(1, target - self.written))
                if len(msg.hands):
                    self.frames_with_hands.append(self.written)
                self._held = cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR)
                self.results_drawn += 1
            except Exception as exc:  # noqa: BLE001 - report, keep the demo going
                self.get_logger().error(f"overlay failed: {type(exc).__name__}: {exc}")

    def _flush_held(self, copies: int) -> None:
        if self._held is not None:
            for _ in range(copies):
                self._writer.write(self._held)
                self.written += 1
            self._held = None

    def finish(self) -> None:
        """Drain the queue, write the last overlay, close the video file."""
        self._queue.put(None)
        self._thread.join()
        self._flush_held(1)
        if self._writer is not None:
            self._writer.release()


def _contact_sheet(video: Path, indices: list[int], out: Path, fps: float, count: int = SHEET_FRAMES) -> Path | None:
    """Tile ``count`` frames of ``video`` (evenly among ``indices``, frame rate ``fps``) into ``out``."""
    if not indices:
        return None
    chosen = sorted({indices[round(i)] for i in np.linspace(0, len(indices) - 1, min(count, len(indices)))})
    cap = cv2.VideoCapture(str(video))
    frames, i = [], 0
    wanted = set(chosen)
    while wanted:
        ok, bgr = cap.read()
        if not ok:
            break
        if i in wanted:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            wanted.discard(i)
        i += 1
    cap.release()
    if not frames:
        return None
    sheet = contact_sheet(frames, cols=4, labels=[f"t = {k / fps:.1f} s" for k in chosen[: len(frames)]])
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return out


@dataclasses.dataclass
class _DemoNodes:
    """The demo's four nodes (see the module docstring)."""

    hand_mesh: HandMeshNode
    recorder: McapBagRecorder
    overlay: OverlayWriter
    source: ImageSource


def _fresh_outputs(output: str | Path) -> tuple[Path, Path, Path]:
    """``(bag folder, overlay video, contact sheet)`` in ``output``, absolute; creates ``output`` and
    removes what a previous run left at these paths (the demo owns them)."""
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    bag_dir = output / BAG_NAME
    if bag_dir.exists():
        shutil.rmtree(bag_dir)  # the demo owns this folder: a new run replaces the last one
    video_path, sheet_path = output / VIDEO_NAME, output / SHEET_NAME
    for stale in (video_path, sheet_path):
        stale.unlink(missing_ok=True)
    return bag_dir, video_path, sheet_path


def _create_nodes(context: rclpy.Context, nodes: list[Node], input_path: str, *, backend: str, device: str,
                  rate: float, max_frames: int, bag_dir: Path, video_path: Path) -> _DemoNodes:
    """Create the hand mesh node, the bag recorder, the overlay writer and the image source,
    in that order, each appended to ``nodes`` as soon as it exists (the caller destroys
    them, also when a later one fails). Raises what the nodes' constructors raise
    (``ValueError`` for bad parameters)."""
    node = HandMeshNode(
        context=context,
        parameter_overrides=[Parameter("backend", value=backend), Parameter("device", value=device)],
        cli_args=["--ros-args", "-r", f"image:={IMAGE_TOPIC}", "-r", f"camera_info:={INFO_TOPIC}"],
    )
    nodes.append(node)
    recorder = McapBagRecorder(
        bag_dir, {IMAGE_TOPIC: Image, INFO_TOPIC: CameraInfo, MESHES_TOPIC: HandMeshArray,
                  MARKERS_TOPIC: MarkerArray}, context=context)
    nodes.append(recorder)
    overlay = OverlayWriter(video_path, context=context)
    nodes.append(overlay)
    source = ImageSource(
        context=context, namespace="camera",
        parameter_overrides=[
            Parameter("source", value=str(input_path)), Parameter("rate", value=float(rate)),
            Parameter("max_frames", value=int(max_frames)),
            # the node, the recorder and the overlay writer listen before frame 1
            Parameter("wait_for_subscribers", value=3),
        ])
    nodes.append(source)
    overlay.fps = source.fps
    return _DemoNodes(node, recorder, overlay, source)


def _play(demo: _DemoNodes, log) -> None:
    """Wait until the source has published its last frame, then until the node finished it
    and its results were received (at most 30 s more). Ctrl-C ends the wait early."""
    node, overlay, recorder = demo.hand_mesh, demo.overlay, demo.recorder
    try:
        while not demo.source.finished:
            time.sleep(0.05)
        # let the node finish its last frame and the results arrive
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not (
                node.idle and len(overlay.hands) >= node.stats.processed
                and recorder.counts[MARKERS_TOPIC] >= node.stats.processed):
            time.sleep(0.05)
        time.sleep(0.3)
    except KeyboardInterrupt:
        log("demo: interrupted, writing what was recorded")


def _summary(input_path: str, demo: _DemoNodes, wall: float, bag_dir: Path, video_path: Path,
             sheet_path: Path) -> DemoSummary:
    """The summary of a finished run (recorder closed, overlay video written); writes the
    contact sheet when the video has frames."""
    node, overlay = demo.hand_mesh, demo.overlay
    lat = np.asarray(overlay.latencies_ms) if overlay.latencies_ms else np.zeros(1)
    hands = np.asarray(overlay.hands) if overlay.hands else np.zeros(1, int)
    sheet = _contact_sheet(video_path, overlay.frames_with_hands, sheet_path, overlay.fps) if overlay.written else None
    return DemoSummary(
        input=str(input_path), frames_in=demo.source.published, frames_processed=node.stats.processed,
        frames_dropped=node.dropped, frames_malformed=node.stats.malformed,
        results_received=len(overlay.hands), hands_per_frame=float(hands.mean()), max_hands=int(hands.max()),
        frames_with_hands=int((hands > 0).sum()) if overlay.hands else 0,
        latency_p50_ms=float(np.percentile(lat, 50)), latency_p95_ms=float(np.percentile(lat, 95)),
        wall_s=wall, bag=bag_dir, bag_counts=dict(demo.recorder.counts),
        video=video_path if overlay.written else None, contact_sheet=sheet,
    )


def run_demo(
    input_path: str,
    output: str | Path,
    *,
    backend: str = "two_stage",
    device: str = "auto",
    rate: float = 0.0,
    max_frames: int = 0,
    log=print,
) -> DemoSummary:
    """Run the demo (see the module docstring) and return its summary.

    Raises ``FileNotFoundError`` / ``ValueError`` for an input that cannot be opened and
    ``ValueError`` for bad node parameters.
    """
    FrameSource(input_path)  # fail fast (FileNotFoundError / ValueError) before loading models
    bag_dir, video_path, sheet_path = _fresh_outputs(output)

    context = rclpy.Context()
    rclpy.init(context=context)
    nodes: list[Node] = []
    executor = SingleThreadedExecutor(context=context)
    t0 = time.monotonic()
    try:
        log(f"demo: loading the {backend} predictor ...")
        demo = _create_nodes(context, nodes, input_path, backend=backend, device=device, rate=rate,
                             max_frames=max_frames, bag_dir=bag_dir, video_path=video_path)
        for n in nodes:
            executor.add_node(n)
        spinner = threading.Thread(target=executor.spin, name="demo_executor", daemon=True)
        spinner.start()
        log(f"demo: playing {input_path} ...")
        _play(demo, log)
        executor.shutdown()
        spinner.join(timeout=5.0)
        wall = time.monotonic() - t0
        demo.recorder.close()
        demo.overlay.finish()
        return _summary(input_path, demo, wall, bag_dir, video_path, sheet_path)
    finally:
        executor.shutdown()
        for n in reversed(nodes):
            n.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)


def main(argv: list[str] | None = None) -> int:
    """``python -m hand_mesh_ros.demo --input VIDEO|FOLDER|camera:N --output DIR``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", required=True, help="video file, image folder, image or camera:N")
    ap.add_argument("--output", default="output", help="folder for the bag, overlay video and contact sheet")
    ap.add_argument("--backend", default="two_stage", help="two_stage (reference) or single_stage")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--rate", type=float, default=0.0, help="publish rate in Hz (0 = the source's rate)")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    args = ap.parse_args(argv)
    try:
        summary = run_demo(args.input, args.output, backend=args.backend, device=args.device,
                           rate=args.rate, max_frames=args.max_frames)
    except STARTUP_ERRORS as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if summary.video:
        print(f"demo: overlay video {summary.video}")
    if summary.contact_sheet:
        print(f"demo: contact sheet {summary.contact_sheet}")
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
