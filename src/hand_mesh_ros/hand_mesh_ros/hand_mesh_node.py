"""Node ``hand_mesh_node``: camera images in, every hand as a metric 3D mesh out.

An adapter around :func:`hand_mesh_core.create_predictor` (the method lives in the core).

Topics:
    subscribes ``image`` (``sensor_msgs/Image``, or ``sensor_msgs/CompressedImage`` when
    ``compressed_input`` is true) and ``camera_info`` (``sensor_msgs/CameraInfo``, sensor-data
    QoS). The image QoS follows ``image_qos``: by default (``auto``) reliable, switched to the
    sensor-data QoS (best effort) as soon as a best-effort-only publisher appears, because
    large images sent best effort between processes were lost here (see
    :data:`RELIABLE_IMAGE_QOS`) while best effort is all some camera drivers offer;
    publishes ``hands/meshes`` (``hand_mesh_msgs/HandMeshArray``, header copied from the
    image), ``hands/markers`` (``visualization_msgs/MarkerArray``, see
    :mod:`hand_mesh_ros.markers`), ``hands/debug_image`` (``sensor_msgs/Image`` rgb8 overlay,
    when ``publish_debug_image``) and ``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``).
    Markers and the debug image are built only while someone subscribes to them.

Threading: the subscription callback only checks what is known at arrival (header fields,
encoding / format, declared size against ``max_input_pixels``, which for JPEG/PNG is read from
the header without decoding, empty data: refused messages are counted as malformed) and puts
the message in a :class:`~hand_mesh_ros.latest_slot.LatestSlot`; a worker thread of the node
decodes (failures counted as undecodable), runs the predictor and publishes. Messages the
subscription's history replaced before the callback are counted from gaps in the publishers'
sequence numbers (:mod:`hand_mesh_ros.sequence_gaps`). At shutdown the worker stops and
joins before the node is destroyed (:meth:`HandMeshNode.destroy_node`, :mod:`.node_main`). When the worker is busy, a waiting frame is replaced by the
newer one and counted as dropped, so memory stays bounded and results stay fresh. Spin
the node with a ``SingleThreadedExecutor`` (rclpy's multi-threaded executor is about 10x
slower per callback with the PyPI wheels, see docs/DEVELOPING.md).

Intrinsics (paired by :class:`~hand_mesh_ros.camera_info.CameraInfoCache`): the
``camera_info`` stamped like the image (one of the last :data:`RECENT_CAMERA_INFOS`), else the
latest one (scaled when calibrated at another resolution); without one (the first frame waits
up to :data:`FIRST_INFO_WAIT_S` for it), ``K`` from
``default_hfov_deg`` (a warning is logged once). A camera_info whose K is invalid or
implausible for the image size (:func:`hand_mesh_core.camera.implausible_intrinsics`) is
counted in ``camera_infos_rejected``, logged once and ignored: the last good K is used, else
the default one. Each
``HandMeshArray`` says which in ``intrinsics_source``.

Parameters: :data:`PARAMETERS` (also in ``config/hand_mesh.yaml``).
"""

from __future__ import annotations

import os

# GNU OpenMP (torch's CPU threads) spin-waits by default, and a node shares its cores with
# its DDS threads, its executor and the robot's other processes: under a 100 Hz flood of
# 640x480 images on 2 cores the single_stage node published 9.6 Hz with the default policy
# and 15.5 Hz with PASSIVE (bench_flood, docs/results/bench_flood.md). Read when torch
# loads, so set before the imports below; a value already in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gc
import sys
import threading
import time
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from hand_mesh_msgs.msg import HandMeshArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSPolicyKind, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from hand_mesh_core.camera import DEFAULT_HFOV_DEG, intrinsics_from_fov
from hand_mesh_core.backends import create_predictor
from hand_mesh_core.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF
from hand_mesh_ros.camera_info import FIRST_INFO_WAIT_S, RECENT_CAMERA_INFOS, CameraInfoCache, fov_problem
from hand_mesh_ros.diagnostics import NodeStats, diagnostic_array
from hand_mesh_ros.image_conversion import (
    MAX_PIXELS, ImageConversionError, msg_to_rgb, pixel_limit, rgb_to_image_msg, validate_msg)
from hand_mesh_ros.latest_slot import LatestSlot
from hand_mesh_ros.markers import prediction_markers
from hand_mesh_ros.mesh_messages import prediction_to_msg
from hand_mesh_ros.node_main import STOP_POLL_S, run_node
from hand_mesh_ros.parameter_specs import ParameterSpec, declare_parameters
from hand_mesh_ros.sequence_gaps import SequenceGaps, publisher_key

# The one API difference between the distributions this node runs on: QoS event callbacks.
try:  # Jazzy, Kilted (rclpy.event_handler since Iron; qos_event remains there, deprecated)
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble: only rclpy.qos_event
    from rclpy.qos_event import SubscriptionEventCallbacks

try:  # rclpy with MessageInfo (publication sequence numbers) in subscription callbacks
    from rclpy.subscription import MessageInfo  # noqa: F401
    _MESSAGE_INFO = True
except ImportError:  # Humble
    _MESSAGE_INFO = False

NODE_NAME = "hand_mesh_node"

#: Reliable keep-last 5 for the outputs: matches reliable and best-effort subscribers.
OUTPUT_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)

#: Reliable keep-last 2 image subscription ("reliable", and "auto" until a best-effort-only
#: publisher shows up). Measured on the PyPI Kilted wheels (Fast DDS, same host, two
#: processes): 640x480 rgb8 at 10 Hz, reliable 50/50 delivered, best effort 0/50.
RELIABLE_IMAGE_QOS = QoSProfile(depth=2, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)

#: Seconds ``destroy_node`` waits for the worker to finish its frame.
WORKER_JOIN_S = 30.0

#: Seconds between two log lines about malformed images / inference errors.
LOG_THROTTLE_S = 5.0


def _weights_file(value: str) -> str | None:
    return None if not value or Path(value).expanduser().is_file() else f"no such weights file: {value}"


#: Every parameter of the node (name, default, descriptor, validation).
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("backend", "two_stage", "reconstruction backend of hand_mesh_core.create_predictor",
                  read_only=True, choices=("two_stage", "single_stage")),
    ParameterSpec("device", "auto", "inference device: auto (CUDA if available), cpu, cuda or cuda:N",
                  read_only=True, choices=("auto", "cpu", "cuda"), pattern=r"cuda:\d+"),
    ParameterSpec("runtime", "torch", "single_stage network runtime: torch, onnxruntime (CPU or CUDA by device) "
                  "or tensorrt (CUDA); two_stage ignores it", read_only=True,
                  choices=("torch", "onnxruntime", "tensorrt")),
    ParameterSpec("weights", "", "single_stage weights file (.safetensors); empty = the shipped default weights; "
                  "two_stage ignores it", read_only=True, check=_weights_file),
    ParameterSpec("hand_model", "open", "hand model: open (shipped, MIT) or mano (needs mano_path)",
                  read_only=True, choices=("open", "mano")),
    ParameterSpec("mano_path", "", "folder or file of the user's MANO model (hand_model=mano); empty = none",
                  read_only=True),
    ParameterSpec("score_threshold", 0.5, "hands with a lower detection score are not reported",
                  read_only=True, value_range=(0.0, 1.0)),
    ParameterSpec("max_hands", 4, "most hands reported per image", read_only=True, value_range=(1, 32)),
    ParameterSpec("max_image_side", 1920, "images with a longer side (pixels) are downscaled for inference",
                  read_only=True, value_range=(32, 8192)),
    ParameterSpec("tiles", "off", "tiled inference for small hands in large frames: off, auto (tiles only when "
                  "the frame is large compared with the backend's detector input) or a grid CxR such as 2x2",
                  read_only=True, choices=("off", "auto"), pattern=r"[1-8]x[1-8]"),
    ParameterSpec("max_input_pixels", 0, "images declaring more pixels (raw width x height, or a JPEG/PNG "
                  "header) are refused before decoding (decompression bombs); 0 = (2 x max_image_side)^2",
                  read_only=True, value_range=(0, MAX_PIXELS)),
    ParameterSpec("video", True, "stream mode: consecutive images are one video (track ids, warm starts, smoothing)",
                  read_only=True),
    ParameterSpec("smoothing", False, "One-Euro filtering of the tracked hands over time (needs video)"),
    ParameterSpec("smoothing_min_cutoff", DEFAULT_MIN_CUTOFF,
                  "One-Euro cutoff (Hz) for a still hand: lower = smoother, more lag", value_range=(0.01, 100.0)),
    ParameterSpec("smoothing_beta", DEFAULT_BETA,
                  "One-Euro rise of the cutoff with hand speed (Hz per m/s): higher = less lag, more jitter",
                  value_range=(0.0, 1000.0)),
    ParameterSpec("compressed_input", False, "subscribe to 'image' as sensor_msgs/CompressedImage (JPEG/PNG)",
                  read_only=True),
    ParameterSpec("image_qos", "auto",
                  "QoS of the image subscription: sensor_data (best effort, keep last 5), reliable (keep last 2), "
                  "or auto (reliable; switches to sensor_data when a best-effort-only publisher appears)",
                  read_only=True, choices=("auto", "sensor_data", "reliable")),
    ParameterSpec("use_camera_info", True, "use intrinsics from 'camera_info'; false = always default_hfov_deg"),
    ParameterSpec("default_hfov_deg", DEFAULT_HFOV_DEG,
                  "horizontal field of view (degrees) for K when no camera_info has arrived",
                  value_range=(1.0, 179.0), check=fov_problem),
    ParameterSpec("fallback_frame_id", "camera_optical_frame",
                  "frame_id of the outputs when an image arrives with an empty header.frame_id"),
    ParameterSpec("publish_markers", True, "publish hands/markers (built only while subscribed)"),
    ParameterSpec("publish_debug_image", False, "publish hands/debug_image, the overlay (built only while subscribed)"),
    ParameterSpec("marker_alpha", 0.8, "opacity of the mesh markers", value_range=(0.0, 1.0)),
    ParameterSpec("diagnostics_period", 1.0, "seconds between two /diagnostics messages",
                  read_only=True, value_range=(0.1, 60.0)),
)


def single_stage_options(params: dict) -> dict:
    """``create_predictor`` options of the single_stage backend from the node's parameters:
    ``runtime``, and ``weights`` (expanded path) unless the parameter is empty (shipped default)."""
    options = {"runtime": params["runtime"]}
    if params["weights"]:
        options["weights"] = str(Path(params["weights"]).expanduser())
    return options


def _stamp_seconds(header: Header) -> float:
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class HandMeshNode(Node):
    """The hand mesh node (see the module docstring for topics, threading and parameters).

    Raises ``ValueError`` / ``rclpy.exceptions.InvalidParameterValueException`` at
    construction for bad parameters (e.g. ``hand_model=mano`` without ``mano_path``).
    """

    def __init__(self, **node_kwargs) -> None:
        # set before anything can fail: destroy_node() must work on a half-built node
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._slot: LatestSlot[tuple[Image | CompressedImage, float]] = LatestSlot()
        self._destroyed = False
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self._start()
        except BaseException:
            self.destroy_node()  # a refused start leaves nothing behind (no publisher, no thread)
            raise

    def _start(self) -> None:
        p = declare_parameters(self, PARAMETERS)
        t0 = time.monotonic()
        self.predictor = create_predictor(
            p["backend"], device=p["device"], max_hands=p["max_hands"], score_threshold=p["score_threshold"],
            hand_model=p["hand_model"], mano_path=p["mano_path"] or None, video=p["video"],
            max_image_side=p["max_image_side"], tiles=p["tiles"],
            **(single_stage_options(p) if p["backend"] == "single_stage" else {}),
        )
        # first call loads models lazily: do it now, not on the first camera frame
        self.predictor.predict(np.full((240, 320, 3), 127, np.uint8), timestamp=0.0)
        self.predictor.reset()
        self._smoothing: tuple | None = None
        self._apply_smoothing()
        # torch and MediaPipe leave ~300k long-lived objects; without this, the garbage
        # collector walks them all while markers allocate their ~7000 Points per hand
        # (measured: two-hand markers 100 ms -> 17 ms). Objects created later are collected
        # as usual.
        gc.freeze()
        self.get_logger().info(
            f"{self.predictor.backend} predictor on {self.predictor.device} ready in {time.monotonic() - t0:.1f} s")

        self.stats = NodeStats()
        self._max_pixels = p["max_input_pixels"] or pixel_limit(p["max_image_side"])
        self._gaps = SequenceGaps()
        self._last_size: tuple[int, int] = (0, 0)  # (width, height) of the last image that arrived
        self._camera_infos = CameraInfoCache(RECENT_CAMERA_INFOS, FIRST_INFO_WAIT_S)
        self._warned_default_k = False
        self._warned_bad_info = False
        self._intrinsics_source = "none yet"
        self._hand_model_name = p["hand_model"]
        self._image_size = "none yet"
        self._previous_snapshot = None

        self._meshes_pub = self.create_publisher(HandMeshArray, "hands/meshes", OUTPUT_QOS)
        self._markers_pub = self.create_publisher(MarkerArray, "hands/markers", OUTPUT_QOS)
        self._debug_pub = self.create_publisher(Image, "hands/debug_image", OUTPUT_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", OUTPUT_QOS)
        self._image_type = CompressedImage if p["compressed_input"] else Image
        self._image_qos_mode = p["image_qos"]
        self._image_sub = self._subscribe_image(reliable=p["image_qos"] != "sensor_data")
        self._qos_switch_timer = None
        self._info_sub = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info,
                                                  qos_profile_sensor_data)
        self._diag_timer = self.create_timer(p["diagnostics_period"], self._publish_diagnostics)

        self._worker = threading.Thread(target=self._work, name="hand_mesh_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"listening on {self._image_sub.topic_name} ({self._image_type.__name__}, "
            f"{'reliable' if self._image_reliable else 'best effort'}) and {self._info_sub.topic_name}; "
            f"publishing {self._meshes_pub.topic_name}, {self._markers_pub.topic_name}")

    # ---- executor thread -----------------------------------------------------------------
    def _subscribe_image(self, reliable: bool):
        self._image_reliable = reliable
        return self.create_subscription(
            self._image_type, "image", self._on_image_with_info if _MESSAGE_INFO else self._on_image,
            RELIABLE_IMAGE_QOS if reliable else qos_profile_sensor_data,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos))

    def _on_incompatible_qos(self, event) -> None:
        if event.last_policy_kind != QoSPolicyKind.RELIABILITY or not self._image_reliable:
            self.get_logger().warning(
                f"a publisher on {self._image_sub.topic_name} has a QoS incompatible with this subscription "
                f"(policy {QoSPolicyKind(event.last_policy_kind).name})", throttle_duration_sec=LOG_THROTTLE_S)
        elif self._image_qos_mode == "auto":
            if self._qos_switch_timer is None:  # switch outside this subscription's own callback
                self._qos_switch_timer = self.create_timer(0.01, self._switch_to_best_effort)
        else:
            self.get_logger().warning(
                f"a best-effort publisher on {self._image_sub.topic_name} cannot reach this reliable subscription: "
                "set image_qos to sensor_data or auto", throttle_duration_sec=LOG_THROTTLE_S)

    def _switch_to_best_effort(self) -> None:
        self.destroy_timer(self._qos_switch_timer)
        if self._image_reliable:
            self.destroy_subscription(self._image_sub)
            self._image_sub = self._subscribe_image(reliable=False)
            self.get_logger().info(f"best-effort publisher on {self._image_sub.topic_name}: image subscription "
                                   "switched to best effort (sensor data QoS)")

    def _on_image_with_info(self, msg: Image | CompressedImage, info: dict) -> None:
        lost = self._gaps.update(publisher_key(info), info.get("publication_sequence_number"))
        if lost is not None:
            self.stats.on_lost(lost)
        self._on_image(msg)

    def _on_image(self, msg: Image | CompressedImage) -> None:
        """Everything known at arrival is checked here (header fields, declared size, format,
        empty data; a JPEG/PNG header is read, nothing decoded): a refused message is counted
        as malformed and never enters the slot, where it would push a real frame out."""
        self.stats.on_received()
        try:
            height, width = validate_msg(msg, self._max_pixels)
        except ImageConversionError as exc:
            self._malformed(exc)
            return
        self._last_size = (width, height)
        self._slot.put((msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        first = self._camera_infos.latest is None
        problem = self._camera_infos.add(msg, *self._last_size)
        self.stats.on_camera_info(rejected=problem is not None)
        if problem is not None:
            self._warn_bad_info(problem)
        elif first and self._warned_default_k:
            self.get_logger().info("camera_info arrived: using its intrinsics from now on")

    def _publish_diagnostics(self) -> None:
        snap = self.stats.snapshot(self._slot.dropped, self._slot.pending)
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        info = {
            "backend": self.predictor.backend,
            "device": self.predictor.device,
            "runtime": getattr(self.predictor, "runtime", "-"),
            "weights": str(getattr(self.predictor, "weights_path", "-")),
            "hand_model": self._hand_model_name,
            "tiles": str(getattr(self.predictor, "tiles", "off")),
            "smoothing": "off" if self.predictor.smoother is None else
                         "min_cutoff {:g} Hz, beta {:g} Hz per m/s".format(*self._smoothing[1:]),
            "intrinsics_source": self._intrinsics_source,
            "image_topic": self._image_sub.topic_name,
            "image_qos": "reliable" if self._image_reliable else "best_effort",
            "image_size": self._image_size,
        }
        self._diag_pub.publish(diagnostic_array(
            snap, name=f"{self.get_name()}: hand reconstruction", hardware_id=self.predictor.device,
            info=info, header=header, previous=self._previous_snapshot))
        self._previous_snapshot = snap

    # ---- worker thread -------------------------------------------------------------------
    def _malformed(self, exc: Exception) -> None:
        self.stats.on_malformed()
        self.get_logger().warning(
            f"malformed image ignored ({self.stats.malformed} so far): {exc}", throttle_duration_sec=LOG_THROTTLE_S)

    def _warn_bad_info(self, problem: str) -> None:
        if not self._warned_bad_info:  # once: a miscalibrated camera sends the same K at its frame rate
            self._warned_bad_info = True
            self.get_logger().warning(f"{problem}; ignored (counted in camera_infos_rejected): using the last "
                                      "good K, else default_hfov_deg")

    def _intrinsics(self, header: Header, width: int, height: int) -> tuple[np.ndarray, str]:
        use_camera_info = self.get_parameter("use_camera_info").value
        paired = self._camera_infos.intrinsics(header.stamp, width, height, use_camera_info)
        if paired.rejected is not None:  # implausible for this image's size (unknown when it arrived)
            self.stats.on_camera_info_rejected()  # counted once: the cache forgot it
            self._warn_bad_info(paired.rejected)
        if paired.K is not None:
            return paired.K, "camera_info"
        hfov = self.get_parameter("default_hfov_deg").value
        K = intrinsics_from_fov(width, height, hfov)
        if not self._warned_default_k and use_camera_info:
            self._warned_default_k = True
            self.get_logger().warning(
                f"no camera_info on {self._info_sub.topic_name}: using default intrinsics from "
                f"default_hfov_deg={hfov:g} (fx=fy={K[0, 0]:.1f} px for {width}x{height}); metric depth "
                "is only as good as this guess")
        return K, "default_fov"

    def _apply_smoothing(self) -> None:
        """Give the predictor the current smoothing parameters (they may change while running)."""
        wanted = tuple(self.get_parameter(n).value for n in ("smoothing", "smoothing_min_cutoff", "smoothing_beta"))
        if wanted == self._smoothing:
            return
        self._smoothing = wanted
        enabled, min_cutoff, beta = wanted
        if enabled and not self.predictor.video:
            self.get_logger().warning("smoothing needs video: true (it filters hands over consecutive frames); off")
            enabled = False
        self.predictor.set_smoothing(enabled, min_cutoff=min_cutoff, beta=beta)

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(timeout=0.2)
            if item is None:
                continue
            try:
                self._process(*item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything
                self.stats.on_error()
                self.get_logger().error(f"processing failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=LOG_THROTTLE_S)
            finally:
                self._slot.done()

    def _process(self, msg: Image | CompressedImage, t_received: float) -> None:
        try:
            rgb = msg_to_rgb(msg, self._max_pixels)
        except ImageConversionError as exc:
            self.stats.on_undecodable()
            self.get_logger().warning(f"undecodable image ignored ({self.stats.undecodable} so far): {exc}",
                                      throttle_duration_sec=LOG_THROTTLE_S)
            return
        height, width = rgb.shape[:2]
        self._image_size = f"{width}x{height}"
        K, source = self._intrinsics(msg.header, width, height)
        self._intrinsics_source = source
        self._apply_smoothing()
        restarts = self.predictor.stream_restarts
        # the core keeps stream times increasing and restarts the stream after a jump back
        prediction = self.predictor.predict(rgb, K, timestamp=_stamp_seconds(msg.header) or time.time())
        if self.predictor.stream_restarts != restarts:
            self.get_logger().info("image time went backwards (bag loop?): video state reset")
        self._hand_model_name = prediction.hand_model
        header = Header(stamp=msg.header.stamp,
                        frame_id=msg.header.frame_id or self.get_parameter("fallback_frame_id").value)
        out = prediction_to_msg(prediction, header, intrinsics_source=source,
                                processing_time=time.monotonic() - t_received)
        self._meshes_pub.publish(out)
        self.stats.on_processed(time.monotonic() - t_received, len(prediction))
        if self.get_parameter("publish_markers").value and self._markers_pub.get_subscription_count() > 0:
            alpha = self.get_parameter("marker_alpha").value
            self._markers_pub.publish(prediction_markers(prediction, header, alpha))
        if self.get_parameter("publish_debug_image").value and self._debug_pub.get_subscription_count() > 0:
            overlay = rgb_to_image_msg(prediction.plot(rgb))
            overlay.header = header
            self._debug_pub.publish(overlay)

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """True when no frame waits and the worker is not processing one."""
        return self._slot.idle

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before the worker took them."""
        return self._slot.dropped

    def destroy_node(self) -> None:
        """Stop the worker thread (it finishes the current frame and publishes nothing after
        this returns), then destroy the node. Safe on a node whose constructor failed, and
        when called twice."""
        if self._destroyed:
            return
        self._destroyed = True
        self._stop.set()
        self._slot.close()
        if self._worker is not None:
            self._worker.join(timeout=WORKER_JOIN_S)
            if self._worker.is_alive():
                self.get_logger().error(f"worker thread still busy after {WORKER_JOIN_S:g} s at shutdown")
        super().destroy_node()


def _spin(node: HandMeshNode, stop: threading.Event) -> None:
    executor = SingleThreadedExecutor()  # see docs/DEVELOPING.md: MultiThreadedExecutor is ~10x slower
    executor.add_node(node)
    try:
        while not stop.is_set():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    finally:
        executor.remove_node(node)
        executor.shutdown()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run hand_mesh_ros hand_mesh_node``."""
    return run_node("hand_mesh_node", HandMeshNode, _spin, args)


if __name__ == "__main__":
    sys.exit(main())
