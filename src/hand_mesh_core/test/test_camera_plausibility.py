"""implausible_intrinsics: the one plausibility policy for K (issue 15, defect 3)."""

import numpy as np
import pytest

from hand_mesh_core.camera import implausible_intrinsics, intrinsics_from_fov


def _K(fx, fy, cx, cy, skew=0.0):
    return np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("hfov", [5.0, 60.0, 120.0, 170.0])
def test_real_cameras_are_plausible(hfov):
    assert implausible_intrinsics(intrinsics_from_fov(640, 480, hfov), 640, 480) is None


@pytest.mark.parametrize("K, reason", [
    (_K(1e30, 1e30, 320, 240), "field of view"),  # finite and positive, a 0-degree camera
    (_K(1e-6, 1e-6, 320, 240), "field of view"),  # a 180-degree one
    (_K(500, 50, 320, 240), "fx / fy"),
    (_K(500, 500, 320, 240, skew=1e4), "skew"),
    (_K(500, 500, 1e9, -1e9), "principal point"),
    (_K(np.nan, 500, 320, 240), "NaN"),
    (_K(-500, 500, 320, 240), "positive"),
])
def test_degenerate_intrinsics_are_named(K, reason):
    problem = implausible_intrinsics(K, 640, 480)
    assert problem is not None and reason in problem, problem
