"""Letterboxing (hand_mesh_core.network.letterbox): exact affine pixel map and K_net."""

from __future__ import annotations

import numpy as np
import pytest

from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.network.letterbox import PAD_VALUE, fit_letterbox, letterbox_image


def _blob_centroid(img: np.ndarray) -> np.ndarray:
    w = img[..., 0].astype(np.float64)
    w = np.where(w > 20, w, 0.0)
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    # +0.5: pixel centres in corner-origin coordinates
    return np.array([(w * (xs + 0.5)).sum() / w.sum(), (w * (ys + 0.5)).sum() / w.sum()])


@pytest.mark.parametrize("width,height", [(640, 480), (300, 500), (1280, 720)])
def test_a_blob_lands_where_the_affine_map_says(width, height):
    img = np.zeros((height, width, 3), np.uint8)
    cx, cy, r = width * 0.3, height * 0.6, 24
    ys, xs = np.mgrid[0:height, 0:width]
    img[(xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 < r * r] = 255
    centre = _blob_centroid(img)
    canvas, box = letterbox_image(img, 256)
    assert canvas.shape == (256, 256, 3)
    expected = box.to_network(centre)
    assert np.allclose(_blob_centroid(canvas), expected, atol=0.15)
    assert np.allclose(box.to_image(expected), centre)
    # padding is on the short side, split evenly
    px, py = box.pad
    if width > height:
        assert px == 0 and py > 0 and (canvas[: py - 1] == PAD_VALUE).all()
    else:
        assert py == 0 and px > 0 and (canvas[:, : px - 1] == PAD_VALUE).all()


def test_k_net_projects_3d_points_to_letterboxed_pixels():
    K = intrinsics_from_fov(640, 480)
    K[0, 2] += 13.0  # off-centre principal point
    box = fit_letterbox(640, 480, 256)
    pts = np.array([[0.1, -0.05, 0.6], [-0.2, 0.1, 1.5]])
    assert np.allclose(project_np(pts, box.intrinsics(K)), box.to_network(project_np(pts, K)))


def test_letterbox_errors():
    with pytest.raises(ValueError):
        fit_letterbox(0, 10, 256)
    with pytest.raises(ValueError):
        letterbox_image(np.zeros((10, 10), np.uint8), 64)
