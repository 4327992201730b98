"""CameraInfoCache: images paired with the camera_info of their stamp, else the latest one,
scaled to the image's size; bounded; the first image waits; implausible ones forgotten."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_ros.camera_info import CameraInfoCache, camera_info_msg
from hand_mesh_ros.malformed_inputs import camera_info_with

W, H = 640, 480


def _info(hfov: float, sec: int, size: tuple[int, int] = (W, H)) -> CameraInfo:
    info = camera_info_msg(intrinsics_from_fov(W, H, hfov), *size)
    info.header.stamp.sec = sec
    return info


def _stamp(sec: int, nanosec: int = 0) -> Time:
    return Time(sec=sec, nanosec=nanosec)


def _cache(**kwargs) -> CameraInfoCache:
    kwargs.setdefault("first_wait_s", 0.0)
    return CameraInfoCache(**kwargs)


def test_the_info_stamped_like_the_image_else_the_latest():
    cache = _cache()
    for sec, hfov in [(1, 50.0), (2, 60.0), (3, 70.0)]:
        assert cache.add(_info(hfov, sec), W, H) is None
    assert len(cache) == 3 and cache.latest.header.stamp.sec == 3
    K, rejected = cache.intrinsics(_stamp(2), W, H)
    np.testing.assert_allclose(K, intrinsics_from_fov(W, H, 60.0))
    assert rejected is None
    np.testing.assert_allclose(cache.intrinsics(_stamp(1), W, H).K, intrinsics_from_fov(W, H, 50.0))
    # no info of this stamp (nanoseconds count): the latest one
    np.testing.assert_allclose(cache.intrinsics(_stamp(2, 1), W, H).K, intrinsics_from_fov(W, H, 70.0))
    np.testing.assert_allclose(cache.intrinsics(_stamp(99), W, H).K, intrinsics_from_fov(W, H, 70.0))


def test_only_the_last_capacity_infos_are_kept():
    cache = _cache(capacity=3)
    for sec in range(1, 6):
        cache.add(_info(40.0 + sec, sec), W, H)
    assert len(cache) == 3
    np.testing.assert_allclose(cache.intrinsics(_stamp(3), W, H).K, intrinsics_from_fov(W, H, 43.0))
    # stamps 1 and 2 were forgotten: the latest (stamp 5) is used
    for sec in (1, 2):
        np.testing.assert_allclose(cache.intrinsics(_stamp(sec), W, H).K, intrinsics_from_fov(W, H, 45.0))


def test_an_info_calibrated_at_another_resolution_is_scaled():
    cache = _cache()
    cache.add(_info(60.0, 1), W, H)
    K_full = intrinsics_from_fov(W, H, 60.0)
    K = cache.intrinsics(_stamp(1), W // 2, H // 2).K
    np.testing.assert_allclose(K, np.diag([0.5, 0.5, 1.0]) @ K_full)
    assert K[0, 2] == pytest.approx(W / 4) and K[1, 2] == pytest.approx(H / 4)


def test_infos_without_usable_k_are_refused_at_arrival():
    cache = _cache()
    problem = cache.add(CameraInfo(width=W, height=H), W, H)  # uncalibrated camera: k all zeros
    assert problem is not None and "uncalibrated" in problem
    # no size of its own: checked against the image size given (a 0.4 degree camera for 640x480)
    assert "implausible" in cache.add(camera_info_with(1e5, 1e5, W / 2, H / 2), W, H)
    assert len(cache) == 0 and cache.latest is None
    assert cache.intrinsics(_stamp(0), W, H) == (None, None)
    # the same K is kept when no size is known yet (it is checked when an image needs it)
    assert cache.add(camera_info_with(1e5, 1e5, W / 2, H / 2)) is None and len(cache) == 1


def test_an_info_implausible_for_the_image_is_forgotten_and_the_last_good_k_used():
    cache = _cache()
    cache.add(_info(60.0, 1), W, H)
    good = cache.intrinsics(_stamp(1), W, H).K
    bad = camera_info_with(1e5, 1e5, W / 2, H / 2)  # no size: accepted at arrival
    bad.header.stamp.sec = 2
    assert cache.add(bad) is None and cache.latest is bad
    K, rejected = cache.intrinsics(_stamp(2), W, H)
    assert rejected is not None and "implausible" in rejected
    np.testing.assert_allclose(K, good)
    # reported once: forgotten, and the latest is the good one again
    assert len(cache) == 1 and cache.latest.header.stamp.sec == 1
    K, rejected = cache.intrinsics(_stamp(2), W, H)
    assert rejected is None
    np.testing.assert_allclose(K, good)
    # for another image size the last good K does not fit: none
    bad.header.stamp.sec = 3
    cache.add(bad)
    K, rejected = cache.intrinsics(_stamp(3), 2 * W, 2 * H)
    assert K is None and rejected is not None
    # the good info itself is scaled to that size
    np.testing.assert_allclose(cache.intrinsics(_stamp(3), 2 * W, 2 * H).K, np.diag([2.0, 2.0, 1.0]) @ good)


def test_without_a_good_info_a_rejected_one_leaves_nothing():
    cache = _cache()
    cache.add(camera_info_with(1e5, 1e5, W / 2, H / 2))
    K, rejected = cache.intrinsics(_stamp(0), W, H)
    assert K is None and rejected is not None
    assert cache.latest is None and len(cache) == 0
    assert cache.intrinsics(_stamp(0), W, H) == (None, None)


def test_the_first_image_waits_for_a_first_info_once():
    cache = CameraInfoCache(first_wait_s=0.3)
    t0 = time.monotonic()
    assert cache.intrinsics(_stamp(1), W, H).K is None
    assert time.monotonic() - t0 >= 0.29
    t0 = time.monotonic()
    assert cache.intrinsics(_stamp(2), W, H).K is None  # the second one does not wait
    assert time.monotonic() - t0 < 0.2


def test_the_first_image_takes_an_info_arriving_while_it_waits():
    cache = CameraInfoCache(first_wait_s=5.0)
    late = threading.Timer(0.1, cache.add, args=(_info(60.0, 7), W, H))
    late.start()
    t0 = time.monotonic()
    K = cache.intrinsics(_stamp(7), W, H).K
    late.join()
    assert time.monotonic() - t0 < 4.0  # woken by the info, not the timeout
    np.testing.assert_allclose(K, intrinsics_from_fov(W, H, 60.0))


def test_use_camera_info_false_gives_no_k_and_ends_the_first_wait():
    cache = CameraInfoCache(first_wait_s=0.5)
    cache_with_info = _cache()
    cache_with_info.add(_info(60.0, 1), W, H)
    assert cache_with_info.intrinsics(_stamp(1), W, H, use_camera_info=False) == (None, None)
    t0 = time.monotonic()
    assert cache.intrinsics(_stamp(1), W, H, use_camera_info=False) == (None, None)
    assert cache.intrinsics(_stamp(2), W, H) == (None, None)  # not the first image any more: no wait
    assert time.monotonic() - t0 < 0.3


def test_an_info_with_a_kept_stamp_replaces_it():
    cache = _cache()
    cache.add(_info(50.0, 1), W, H)
    cache.add(_info(70.0, 1), W, H)
    assert len(cache) == 1
    np.testing.assert_allclose(cache.intrinsics(_stamp(1), W, H).K, intrinsics_from_fov(W, H, 70.0))


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="capacity"):
        CameraInfoCache(capacity=0)
    with pytest.raises(ValueError, match="first_wait_s"):
        CameraInfoCache(first_wait_s=-1.0)
