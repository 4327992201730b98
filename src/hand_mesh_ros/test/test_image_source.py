"""image_source over real DDS: video and folder input, CameraInfo, rate, waiting for subscribers."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_ros.image_conversion import image_msg_to_rgb
from hand_mesh_ros.image_source import ImageSource
from ros_test_helpers import Collector, spin_until


def _source(ctx, **params) -> ImageSource:
    return ImageSource(context=ctx, namespace="camera",
                       parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def _run(ctx, source, collector, n, timeout=20.0):
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(source)
    executor.add_node(collector)
    try:
        ok = spin_until(executor, lambda: source.finished and len(collector.messages["/camera/image_raw"]) >= n
                        and len(collector.messages["/camera/camera_info"]) >= n, timeout)
    finally:
        executor.shutdown()
    return ok


def _collector(ctx):
    return Collector({"/camera/image_raw": Image, "/camera/camera_info": CameraInfo}, ctx)


def test_video_frames_with_matching_camera_info(ros_context, shared_data):
    video = shared_data / "video" / "mmaction2_demo.mp4"
    collector = _collector(ros_context)
    source = _source(ros_context, source=str(video), rate=100.0, max_frames=6, wait_for_subscribers=1,
                     encoding="bgr8", fx=300.0, fy=310.0)
    try:
        assert _run(ros_context, source, collector, 6)
        images = collector.messages["/camera/image_raw"]
        infos = collector.messages["/camera/camera_info"]
        assert source.published == len(images) == 6
        for img, info in zip(images, infos):
            assert (img.width, img.height, img.encoding) == (340, 256, "bgr8")
            assert img.header.stamp == info.header.stamp and img.header.frame_id == "camera_optical_frame"
            K = np.asarray(info.k).reshape(3, 3)
            np.testing.assert_allclose(K, [[300, 0, 170], [0, 310, 128], [0, 0, 1]])
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in images]
        assert all(b > a for a, b in zip(stamps, stamps[1:]))
        rgb = image_msg_to_rgb(images[0])
        assert rgb.shape == (256, 340, 3) and rgb.std() > 10  # a real picture, not a blank
    finally:
        source.destroy_node()
        collector.destroy_node()


def test_folder_of_images_default_fov(ros_context, shared_data):
    folder = shared_data / "annotated" / "freihand"
    collector = _collector(ros_context)
    source = _source(ros_context, source=str(folder), rate=50.0, wait_for_subscribers=1)
    try:
        assert _run(ros_context, source, collector, 8)
        images = collector.messages["/camera/image_raw"]
        assert len(images) == 8 and all((m.width, m.height) == (224, 224) for m in images)
        K = np.asarray(collector.messages["/camera/camera_info"][0].k).reshape(3, 3)
        np.testing.assert_allclose(K, intrinsics_from_fov(224, 224))
    finally:
        source.destroy_node()
        collector.destroy_node()


def test_waits_for_subscribers_before_the_first_frame(ros_context, shared_data):
    video = shared_data / "video" / "mmaction2_demo.mp4"
    first = _collector(ros_context)
    source = _source(ros_context, source=str(video), rate=100.0, max_frames=3, wait_for_subscribers=2)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(source)
    executor.add_node(first)
    second = None
    try:
        spin_until(executor, lambda: False, 0.7)
        assert source.published == 0 and not first.messages["/camera/image_raw"]
        second = Collector({"/camera/image_raw": Image}, ros_context, name="second_collector")
        executor.add_node(second)
        assert spin_until(executor, lambda: source.finished and len(second.messages["/camera/image_raw"]) == 3, 10)
    finally:
        executor.shutdown()
        for n in (source, first, second):
            if n is not None:
                n.destroy_node()


def test_bad_parameters_are_refused(ros_context, shared_data):
    with pytest.raises(ValueError, match="source"):
        _source(ros_context)
    with pytest.raises(FileNotFoundError):
        _source(ros_context, source="/nonexistent/video.mp4")
    with pytest.raises(InvalidParameterValueException):
        _source(ros_context, source=str(shared_data / "images"), hfov_deg=179.0)
    with pytest.raises(InvalidParameterValueException):
        _source(ros_context, source=str(shared_data / "images"), encoding="mono8")
