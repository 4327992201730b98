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
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from hand_mesh_core.camera import DEFAULT_HFOV_DEG, intrinsics_from_fov
from hand_mesh_core.media import FrameSource
from hand_mesh_ros.image_conversion import rgb_to_image_msg

#: Reliable, keep-last 5: compatible with both reliable and best-effort (sensor-data)
#: subscribers, and never queues without bound.
SOURCE_QOS = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def camera_info_msg(K: np.ndarray, width: int, height: int) -> CameraInfo:
    """``CameraInfo`` for an undistorted pinhole camera with intrinsics ``K`` (3x3, pixels)."""
    info = CameraInfo()
    info.width, info.height = int(width), int(height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [float(x) for x in K.reshape(-1)]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    P = np.zeros((3, 4))
    P[:, :3] = K
    info.p = [float(x) for x in P.reshape(-1)]
    return info


class ImageSource(Node):
    """Publishes frames of a :class:`hand_mesh_core.media.FrameSource` on a timer."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("image_source", **node_kwargs)
        d = ParameterDescriptor
        self.declare_parameter("source", "", d(description="video / image / folder path, or camera:N"))
        self.declare_parameter(
            "rate", 0.0,
            d(description="publish rate in Hz; 0 = the source's own rate",
              floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1000.0)]))
        self.declare_parameter("loop", False, d(description="restart files and folders at the end"))
        self.declare_parameter("frame_id", "camera_optical_frame", d(description="REP-103 optical frame id"))
        for name in ("fx", "fy", "cx", "cy"):
            self.declare_parameter(
                name, 0.0,
                d(description=f"intrinsic {name} in pixels; 0 = from hfov_deg",
                  floating_point_range=[FloatingPointRange(from_value=0.0, to_value=1e6)]))
        self.declare_parameter(
            "hfov_deg", DEFAULT_HFOV_DEG,
            d(description="horizontal field of view (deg) used when fx/fy are 0",
              floating_point_range=[FloatingPointRange(from_value=1.0, to_value=179.0)]))
        self.declare_parameter(
            "max_frames", 0,
            d(description="stop after this many frames (0 = no limit)",
              integer_range=[IntegerRange(from_value=0, to_value=2**31 - 1)]))

        source = self.get_parameter("source").value
        if not source:
            raise ValueError("parameter 'source' is empty: give a video, image, folder or camera:N")
        self._source = FrameSource(source, loop=self.get_parameter("loop").value)
        rate = self.get_parameter("rate").value or self._source.fps
        self._frame_id = self.get_parameter("frame_id").value
        self._max_frames = self.get_parameter("max_frames").value
        self._frames = iter(self._source)
        self._K: np.ndarray | None = None
        self.published = 0
        self.finished = False

        self._image_pub = self.create_publisher(Image, "image_raw", SOURCE_QOS)
        self._info_pub = self.create_publisher(CameraInfo, "camera_info", SOURCE_QOS)
        self._timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(f"publishing {source} at {rate:.1f} Hz (loop={self._source.loop})")

    def _intrinsics(self, width: int, height: int) -> np.ndarray:
        p = {n: self.get_parameter(n).value for n in ("fx", "fy", "cx", "cy", "hfov_deg")}
        K = intrinsics_from_fov(width, height, p["hfov_deg"])
        if p["fx"] > 0 and p["fy"] > 0:
            K[0, 0], K[1, 1] = p["fx"], p["fy"]
        if p["cx"] > 0 and p["cy"] > 0:
            K[0, 2], K[1, 2] = p["cx"], p["cy"]
        return K

    def _tick(self) -> None:
        if self.finished:
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
        img = rgb_to_image_msg(frame.rgb)
        img.header.stamp = stamp
        img.header.frame_id = self._frame_id
        info = camera_info_msg(self._K, w, h)
        info.header = img.header
        self._info_pub.publish(info)
        self._image_pub.publish(img)
        self.published += 1


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run hand_mesh_ros image_source``."""
    rclpy.init(args=args)
    node = None
    try:
        node = ImageSource()
        while rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.1)
        time.sleep(0.2)  # let the last messages leave
        return 0
    except (ValueError, FileNotFoundError) as exc:
        print(f"image_source: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
