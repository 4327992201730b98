"""``sensor_msgs/CameraInfo`` <-> intrinsics ``K`` (3x3, pixels), both directions.

``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` in pixels, row-major in ``CameraInfo.k``
(sensor_msgs/CameraInfo documentation). Checked with
:func:`hand_mesh_core.camera.validate_intrinsics` and, against the image size,
:func:`hand_mesh_core.camera.implausible_intrinsics` (the one plausibility policy).
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo

from hand_mesh_core.camera import PLAUSIBLE_FOV_DEG, implausible_intrinsics, validate_intrinsics


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
