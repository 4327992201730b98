"""``sensor_msgs/CameraInfo`` <-> intrinsics ``K`` (3x3, pixels), both directions, and the
pairing of images with their camera_info (:class:`CameraInfoCache`).

``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, row-major in ``CameraInfo.k``
(sensor_msgs/CameraInfo documentation). Checked with
:func:`hand_mesh_core.camera.validate_intrinsics` and, against the image size,
:func:`hand_mesh_core.camera.implausible_intrinsics` (the one plausibility policy).
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from sensor_msgs.msg import CameraInfo

from hand_mesh_core.camera import PLAUSIBLE_FOV_DEG, implausible_intrinsics, validate_intrinsics

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time

#: camera_info messages kept to find the one stamped like an image (topics are not ordered).
RECENT_CAMERA_INFOS = 30

#: The first frame waits this long (s) for a camera_info (it travels on its own topic and
#: may arrive just after the image) before the default intrinsics are used.
FIRST_INFO_WAIT_S = 0.5


def fov_problem(hfov_deg: float) -> str | None:
    """Why ``hfov_deg`` (a horizontal field of view in degrees, as the nodes'
    ``default_hfov_deg`` / ``hfov_deg`` parameters) gives no ``K``, or None when it does.

    Accepted: strictly inside :data:`hand_mesh_core.camera.PLAUSIBLE_FOV_DEG` (1 to 179
    degrees), the range :func:`hand_mesh_core.camera.intrinsics_from_fov` takes. A
    :class:`~hand_mesh_ros.parameter_specs.ParameterSpec` ``check``; raises nothing.
    """
    low, high = PLAUSIBLE_FOV_DEG
    return None if low < hfov_deg < high else f"must be strictly between {low:g} and {high:g} degrees"


def camera_info_msg(K: np.ndarray, width: int, height: int) -> CameraInfo:
    """``CameraInfo`` for an undistorted pinhole camera with intrinsics ``K`` (3x3, pixels).

    ``P = [K | 0]`` (monocular camera), ``R`` identity, ``plumb_bob`` with zero distortion.
    The header is left empty. Raises ``ValueError`` for an invalid ``K`` or size.
    """
    K = validate_intrinsics(K)
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
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


def intrinsics_from_camera_info(info: CameraInfo, width: int, height: int) -> np.ndarray:
    """``K`` (3x3 float64, pixels) of ``info`` for an image of ``width`` x ``height`` pixels.

    When the CameraInfo was calibrated at another resolution (``info.width/height`` set
    and different, e.g. a downscaled image stream), ``fx, cx`` are scaled by
    ``width / info.width`` and ``fy, cy`` by ``height / info.height`` (pixel coordinates
    measured from the image corner scale exactly so). Distortion is ignored: the
    reconstruction assumes the image is rectified or nearly so.

    Raises ``ValueError`` for an uncalibrated CameraInfo (all-zero ``k``), an invalid K, or
    one that is not plausible for the image (:func:`camera_info_problem`).
    """
    problem = camera_info_problem(info, width, height)
    if problem:
        raise ValueError(problem)
    K = validate_intrinsics(np.asarray(info.k, dtype=np.float64))
    if info.width > 0 and info.height > 0 and (info.width, info.height) != (width, height):
        sx, sy = width / float(info.width), height / float(info.height)
        K = np.diag([sx, sy, 1.0]) @ K
    return K


def camera_info_problem(info: CameraInfo, width: int = 0, height: int = 0) -> str | None:
    """Why ``info`` gives no usable ``K``, or None when it does.

    The size checked against is the CameraInfo's own ``width`` x ``height`` when set, else
    the image's ``width`` x ``height`` when given (> 0); with neither, only
    :func:`~hand_mesh_core.camera.validate_intrinsics` applies. Problems: ``k`` not 9
    numbers or all zeros (an uncalibrated camera), invalid K, implausible K
    (:func:`~hand_mesh_core.camera.implausible_intrinsics`).
    """
    k = np.asarray(info.k, dtype=np.float64)
    if k.shape != (9,) or not np.any(k):
        return "camera_info has no intrinsics (k is all zeros: uncalibrated camera)"
    try:
        validate_intrinsics(k)
    except ValueError as exc:
        return f"camera_info K invalid: {exc}"
    w, h = (int(info.width), int(info.height)) if info.width > 0 and info.height > 0 else (int(width), int(height))
    if w > 0 and h > 0:
        problem = implausible_intrinsics(k, w, h)
        if problem:
            return f"camera_info K implausible: {problem}"
    return None


def _stamp_key(stamp: Time) -> tuple[int, int]:
    return int(stamp.sec), int(stamp.nanosec)


class PairedIntrinsics(NamedTuple):
    """What :meth:`CameraInfoCache.intrinsics` found for one image."""

    #: ``K`` (3x3 float64, pixels, for the image's size) from a camera_info, or None: no
    #: usable camera_info, the caller uses its default intrinsics.
    K: np.ndarray | None
    #: Why the camera_info picked for this image was refused just now (it is forgotten, so
    #: it is reported once), else None.
    rejected: str | None


class CameraInfoCache:
    """The camera_info of each image: pairs images and ``sensor_msgs/CameraInfo`` messages,
    which travel on two topics, in no guaranteed order.

    :meth:`add` keeps the last ``capacity`` plausible camera_infos keyed by
    ``header.stamp``; :meth:`intrinsics` gives an image the ``K`` of the camera_info stamped
    like it, else of the latest one, scaled to the image's size when calibrated at another
    resolution (:func:`intrinsics_from_camera_info`). The first image waits up to
    ``first_wait_s`` seconds for a first camera_info. A camera_info found implausible for
    the image's size (unknown when it arrived) is forgotten and the last good ``K`` is used
    when it was for the same size.

    Thread-safe: :meth:`add` may run on the executor thread while :meth:`intrinsics` runs
    on a worker thread. Raises ``ValueError`` for ``capacity < 1`` or ``first_wait_s < 0``.
    """

    def __init__(self, capacity: int = RECENT_CAMERA_INFOS, first_wait_s: float = FIRST_INFO_WAIT_S) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if first_wait_s < 0:
            raise ValueError(f"first_wait_s must be >= 0, got {first_wait_s}")
        self.capacity = int(capacity)
        self.first_wait_s = float(first_wait_s)
        self._lock = threading.Lock()
        self._recent: collections.OrderedDict[tuple[int, int], CameraInfo] = collections.OrderedDict()
        self._latest: CameraInfo | None = None
        self._arrived = threading.Event()
        self._first_image = True
        # ((width, height), K, the camera_info it came from) of the last K given
        self._last_good: tuple[tuple[int, int], np.ndarray, CameraInfo] | None = None

    @property
    def latest(self) -> CameraInfo | None:
        """The latest camera_info kept (None before the first, or when the latest was
        refused by :meth:`intrinsics` and no good one came before)."""
        return self._latest

    def __len__(self) -> int:
        """Number of camera_infos kept (at most ``capacity``)."""
        return len(self._recent)

    def add(self, info: CameraInfo, width: int = 0, height: int = 0) -> str | None:
        """Keep ``info`` unless it has no usable ``K``; returns why it was refused
        (:func:`camera_info_problem`, checked against ``width`` x ``height`` pixels, the last
        image's size, when the camera_info states none), else None.

        A kept camera_info becomes :attr:`latest`; the oldest kept one is forgotten beyond
        ``capacity``. One with the stamp of a kept one replaces it. Raises nothing.
        """
        problem = camera_info_problem(info, width, height)
        if problem is not None:
            return problem
        with self._lock:
            self._recent[_stamp_key(info.header.stamp)] = info
            while len(self._recent) > self.capacity:
                self._recent.popitem(last=False)
            self._latest = info
        self._arrived.set()
        return None

    def intrinsics(self, stamp: Time, width: int, height: int, use_camera_info: bool = True) -> PairedIntrinsics:
        """``K`` for the image stamped ``stamp`` (``builtin_interfaces/Time``, the image's
        ``header.stamp``) of ``width`` x ``height`` pixels.

        The camera_info with this very stamp when kept, else :attr:`latest`. On the first
        call, with ``use_camera_info``, waits up to ``first_wait_s`` for a first camera_info.
        With ``use_camera_info`` false, or without a camera_info, ``K`` is None. A
        camera_info implausible for this size is forgotten (``rejected`` says why) and ``K``
        is then the last good one if it was for the same size, else None. Raises nothing.
        """
        first, self._first_image = self._first_image, False
        if not use_camera_info:
            return PairedIntrinsics(None, None)
        if first:
            self._arrived.wait(self.first_wait_s)
        with self._lock:
            info = self._recent.get(_stamp_key(stamp), self._latest)
        if info is None:
            return PairedIntrinsics(None, None)
        try:
            K = intrinsics_from_camera_info(info, width, height)
        except ValueError as exc:
            with self._lock:
                self._recent.pop(_stamp_key(info.header.stamp), None)
                if self._latest is info:
                    self._latest = None if self._last_good is None else self._last_good[2]
                good = self._last_good
            return PairedIntrinsics(good[1] if good is not None and good[0] == (width, height) else None, str(exc))
        with self._lock:
            self._last_good = ((width, height), K, info)
        return PairedIntrinsics(K, None)
