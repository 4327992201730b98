"""hand_mesh_node against bad input over real DDS (issue 15, defects 2, 3 and 6): decompression
bombs and undecodable payloads are refused on arrival and counted apart from drops, and
implausible camera_infos are counted, logged once and replaced by the last good K."""

from __future__ import annotations

import array

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.media import load_rgb
from hand_mesh_ros.image_conversion import rgb_to_image_msg
from hand_mesh_ros.malformed_inputs import camera_info_with, compressed, jpeg_bomb, png_bomb, png_without_pixels
from ros_test_helpers import spin_until


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024.0 for line in f if line.startswith("VmHWM:"))


def _accounted(d: dict[str, str]) -> bool:
    parts = ("frames_malformed", "frames_dropped", "frames_processed", "frames_undecodable", "inference_errors",
             "frames_pending")
    return int(d["frames_received"]) == sum(int(d[k]) for k in parts)


def test_bombs_refused_on_arrival_undecodable_counted_apart_and_real_frames_served(rig_factory, shared_data):
    rig = rig_factory(compressed=True)
    peak0 = _peak_rss_mb()
    bad = {
        "jpeg declaring 20000x20000": jpeg_bomb(20000, 20000),
        "jpeg declaring 65000x65000": jpeg_bomb(65000, 65000),
        "png declaring 1 Gpx": png_bomb(32768, 32768),
        "not an image": bytes(range(256)) * 3,
    }
    for payload in bad.values():
        rig.send(compressed(payload), expect_result=False)
    rig.send(compressed(png_without_pixels(), "png"), expect_result=False)  # header fine, pixels not
    rgb = load_rgb(shared_data / "images" / "hamer_test3.jpg")
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    result = rig.send(CompressedImage(format="jpeg", data=array.array("B", jpeg.tobytes())))
    assert len(result.hands) >= 1 and len(rig.meshes) == 1
    d = rig.diagnostics()  # a report taken once the node is idle
    assert d["frames_pending"] == "0"
    assert int(d["frames_received"]) == 6
    assert int(d["frames_malformed"]) == len(bad)  # refused in the callback: never entered the slot
    assert int(d["frames_undecodable"]) == 1 and int(d["frames_dropped"]) == 0 and int(d["frames_processed"]) == 1
    assert _accounted(d), d
    assert d["frames_lost_before_callback"] in ("0", "n/a")  # n/a: no sequence numbers (Humble, Jazzy)
    # nothing was decoded: a 20000x20000 decode alone takes 1.2 GB
    assert _peak_rss_mb() - peak0 < 300.0
    assert spin_until(rig.executor, lambda: rig.warnings("declares"), 5)


def test_implausible_camera_info_counted_logged_once_and_last_good_k_used(rig_factory, shared_data):
    rig = rig_factory()
    rgb = load_rgb(shared_data / "images" / "hamer_test3.jpg")
    h, w = rgb.shape[:2]

    def send_with_info(info):
        stamp = rig._stamp + 1  # the stamp rig.send gives the next image
        info.header.stamp.sec = stamp
        n = rig.node.stats.camera_infos_received
        rig.info_pub.publish(info)
        assert spin_until(rig.executor, lambda: rig.node.stats.camera_infos_received > n, 5)
        return rig.send(rgb_to_image_msg(rgb))

    # no good K yet: the default one
    first = send_with_info(camera_info_with(1e30, 1e30, w / 2, h / 2))  # finite, positive, a 0-degree camera
    np.testing.assert_allclose(np.asarray(first.k).reshape(3, 3), intrinsics_from_fov(w, h))
    assert first.intrinsics_source == "default_fov"
    good_K = intrinsics_from_fov(w, h, 55.0)
    good = rig.send(rgb_to_image_msg(rgb), K=good_K)
    np.testing.assert_allclose(np.asarray(good.k).reshape(3, 3), good_K)
    assert len(good.hands) >= 1
    for fx, fy, cx, cy, size in [(np.nan, 500, 320, 240, (0, 0)), (1e-6, 1e-6, w / 2, h / 2, (w, h)),
                                 (500.0, 500.0, 1e9, -1e9, (0, 0)), (-5.0, 500.0, 320, 240, (0, 0))]:
        result = send_with_info(camera_info_with(fx, fy, cx, cy, *size))
        np.testing.assert_allclose(np.asarray(result.k).reshape(3, 3), good_K)  # the last good one
        assert result.intrinsics_source == "camera_info"
        assert np.isfinite(np.asarray(result.hands[0].keypoints_3d)).all() if result.hands else True
    d = rig.diagnostics()
    assert int(d["camera_infos_rejected"]) == 5 and int(d["camera_infos_received"]) == 6
    assert int(d["inference_errors"]) == 0
    spin_until(rig.executor, lambda: False, 0.3)
    assert len(rig.warnings("camera_info K")) == 1  # logged once
