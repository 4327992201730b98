"""Node ``image_source``: publishes ``sensor_msgs/Image`` + ``sensor_msgs/CameraInfo``
from a video file, an image folder, a single image or a V4L2 camera.

It is how the demo (and a user without a camera) feeds ``hand_mesh_node``.

Topics (relative; the demo launch puts them under ``/camera``):
    ``image_raw`` (sensor_msgs/Image, rgb8), ``camera_info`` (sensor_msgs/CameraInfo).

Parameters:
    ``source`` (string): path of a video / image / folder, or ``camera:N`` / ``/dev/videoN``.
    ``rate`` (double, Hz): 0 = the source's own rate (video FPS; 10 Hz for folders).
    ``loop`` (bool): restart files and folders at the end.
    ``frame_id`` (string): optical frame of the camera (REP-103), default ``camera_optical_frame``.
    ``fx``, ``fy``, ``cx``, ``cy`` (double, pixels): intrinsics; 0 = derived from ``hfov_deg``.
    ``hfov_deg`` (double): horizontal field of view used when fx/fy are 0.
    ``max_frames`` (int): stop after this many frames (0 = no limit).
    ``encoding`` (string): ``rgb8`` or ``bgr8``.
    ``wait_for_subscribers`` (int): hold the first frame until ``image_raw`` has this many
    subscribers (the demo uses it so that no frame is published before the node listens).
    The full table with ranges is :data:`PARAMETERS`.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from hand_mesh_core.camera import DEFAULT_HFOV_DEG, intrinsics_from_fov
from hand_mesh_core.media import FrameSource
from hand_mesh_ros.camera_info import camera_info_msg, fov_problem
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from hand_mesh_ros.node_main import STOP_POLL_S, run_node
from hand_mesh_ros.parameter_specs import ParameterSpec, declare_parameters

#: Reliable, keep-last 5: compatible with both reliable and best-effort (sensor-data)
#: subscribers, and never queues without bound.
SOURCE_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


#: Every parameter of the node (name, default, descriptor, validation).
PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("source", "", "video / image / folder path, or camera:N / /dev/videoN", read_only=True),
    ParameterSpec("rate", 0.0, "publish rate in Hz; 0 = the source's own rate (video FPS, 10 Hz for folders)",
                  read_only=True, value_range=(0.0, 1000.0)),
    ParameterSpec("loop", False, "restart files and folders at the end", read_only=True),
    ParameterSpec("frame_id", "camera_optical_frame", "REP-103 optical frame id of the images"),
    ParameterSpec("encoding", "rgb8", "encoding of the published images", read_only=True,
                  choices=("rgb8", "bgr8")),
    *(ParameterSpec(name, 0.0, f"intrinsic {name} in pixels; 0 = derived from hfov_deg", read_only=True,
                    value_range=(0.0, 1e6)) for name in ("fx", "fy", "cx", "cy")),
    ParameterSpec("hfov_deg", DEFAULT_HFOV_DEG, "horizontal field of view (degrees) used when fx/fy are 0",
                  read_only=True, value_range=(1.0, 179.0), check=fov_problem),
    ParameterSpec("max_frames", 0, "stop after this many frames (0 = no limit)", read_only=True,
                  value_range=(0, 2**31 - 1)),
    ParameterSpec("wait_for_subscribers", 0,
                  "hold the first frame until image_raw has this many subscribers (0 = start at once)",
                  read_only=True, value_range=(0, 1000)),
)


class ImageSource(Node):
    """Publishes frames of a :class:`hand_mesh_core.media.FrameSource` on a timer.

    Raises ``ValueError`` for an empty ``source`` and ``FileNotFoundError`` for a missing
    path (from :class:`~hand_mesh_core.media.FrameSource`).
    """

    def __init__(self, **node_kwargs) -> None:
        super().__init__("image_source", **node_kwargs)
        p = declare_parameters(self, PARAMETERS)
        source = p["source"]
        if not source:
            raise ValueError("parameter 'source' is empty: give a video, image, folder or camera:N")
        self._source = FrameSource(source, loop=p["loop"])
        rate = p["rate"] or self._source.fps
        #: Publish rate (Hz).
        self.fps = float(rate)
        self._params = p
        self._max_frames = p["max_frames"]
        self._frames = iter(self._source)
        self._K: np.ndarray | None = None
        self.published = 0
        self.finished = False

        self._image_pub = self.create_publisher(Image, "image_raw", SOURCE_QOS)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", SOURCE_QOS)
        self._timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f"publishing {source} at {rate:.1f} Hz (loop={self._source.loop})")

    def _intrinsics(self, width: int, height: int) -> np.ndarray:
        p = self._params
        K = intrinsics_from_fov(width, height, p["hfov_deg"])
        if p["fx"] > 0 and p["fy"] > 0:
            K[0, 0], K[1, 1] = p["fx"], p["fy"]
        if p["cx"] > 0 and p["cy"] > 0:
            K[0, 2], K[1, 2] = p["cx"], p["cy"]
        return K

    def _tick(self) -> None:
        if self.finished:
            return
        if self.published == 0 and self._image_pub.get_subscription_count() < self._params["wait_for_subscribers"]:
            return
        frame = next(self._frames, None)
        if frame is None or (self._max_frames and self.published >= self._max_frames):
            self.finished = True
            self._timer.cancel()
            self.get_logger().info(f"source finished after {self.published} frames")
            return
        h, w = frame.rgb.shape[:2]
        if self._K is None:
            self._K = self._intrinsics(w, h)
        stamp = self.get_clock().now().to_msg()
        img = rgb_to_image_msg(frame.rgb, self._params["encoding"])
        img.header.stamp = stamp
        img.header.frame_id = self.get_parameter("frame_id").value
        info = camera_info_msg(self._K, w, h)
        info.header = img.header
        self._info_pub.publish(info)
        self._image_pub.publish(img)
        self.published += 1


def _spin(node: ImageSource, stop: threading.Event) -> None:
    while rclpy.ok() and not node.finished and not stop.is_set():
        rclpy.spin_once(node, timeout_sec=STOP_POLL_S)
    time.sleep(0.2)  # let the last messages leave


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run hand_mesh_ros image_source``."""
    return run_node("image_source", ImageSource, _spin, args)


if __name__ == "__main__":
    sys.exit(main())
