"""The z-buffer rasteriser and the forearm mesh, checked against closed-form geometry."""

import math

import numpy as np
import pytest

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.data.forearm import forearm_mesh
from hand_mesh_core.data.hard_rasterizer import rasterize
from hand_mesh_core.render.primitives import uv_ellipsoid

SIZE = (160, 120)
K = intrinsics_from_fov(*SIZE)


def _sphere(radius, centre, rings=40, segments=80):
    v, f = uv_ellipsoid((radius, radius, radius), rings=rings, segments=segments, dtype=__import__("torch").float64)
    return v.numpy() + np.asarray(centre), f.numpy()


def test_sphere_silhouette_and_depth_match_the_closed_form():
    r, d = 0.05, 0.5
    v, f = _sphere(r, (0.0, 0.0, d))
    out = rasterize([v], [f], K, SIZE)
    # a sphere on the optical axis projects to a disc of radius f r / sqrt(d^2 - r^2)
    radius_px = K[0, 0] * r / math.sqrt(d * d - r * r)
    area = (out.mesh_index == 0).sum()
    assert area == pytest.approx(math.pi * radius_px**2, rel=0.03)
    cy, cx = SIZE[1] // 2, SIZE[0] // 2
    assert out.depth[cy, cx] == pytest.approx(d - r, abs=0.001)  # the near pole
    assert out.depth[0, 0] == 0 and out.mesh_index[0, 0] == -1 and out.face_index[0, 0] == -1


def test_back_faces_are_culled():
    r, d = 0.05, 0.5
    v, f = _sphere(r, (0.0, 0.0, d))
    out = rasterize([v], [f[:, ::-1]], K, SIZE)  # inside-out: only the far half faces the camera
    assert out.depth[SIZE[1] // 2, SIZE[0] // 2] == pytest.approx(d + r, abs=0.001)


def test_nearest_mesh_wins_and_interpolation_is_perspective_correct():
    near_v, near_f = _sphere(0.03, (0.02, 0.0, 0.4))
    far_v, far_f = _sphere(0.06, (0.0, 0.0, 0.6))
    out = rasterize([far_v, near_v], [far_f, near_f], K, SIZE)
    both = (out.mesh_index >= 0)
    assert (out.mesh_index == 1).sum() > 100 and (out.mesh_index == 0).sum() > 100
    # where the near sphere is seen, it is in front of everything seen elsewhere at that pixel
    assert out.depth[out.mesh_index == 1].max() < 0.4
    # z is affine on each triangle in 3D: perspective-correct interpolation of the
    # vertices' z reproduces the rasterised depth
    for mesh, verts, faces in ((0, far_v, far_f), (1, near_v, near_f)):
        yx, z = out.interpolate(mesh, faces, verts[:, 2:3])
        np.testing.assert_allclose(z[:, 0], out.depth[yx[:, 0], yx[:, 1]], rtol=1e-5)
    np.testing.assert_allclose(out.bary[both].sum(axis=1), 1.0, atol=1e-5)


def test_meshes_behind_the_near_plane_or_outside_the_image_draw_nothing():
    v, f = _sphere(0.05, (0.0, 0.0, -0.5))
    assert (rasterize([v], [f], K, SIZE).mesh_index == -1).all()
    v, f = _sphere(0.05, (5.0, 0.0, 0.5))
    assert (rasterize([v], [f], K, SIZE).mesh_index == -1).all()
    assert (rasterize([], [], K, SIZE).mesh_index == -1).all()
    with pytest.raises(ValueError):
        rasterize([v], [f + 10_000], K, SIZE)


def test_forearm_is_closed_outward_and_has_the_frustum_volume():
    wrist_r, end_r, length = (0.03, 0.02), (0.04, 0.03), 0.25
    v, f = forearm_mesh(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]), length,
                        wrist_r, end_r, rings=10, segments=64)
    # divergence theorem: sum of v0 . (v1 x v2) / 6 is the enclosed volume, positive
    # when normals point outwards
    tri = v[f]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    # elliptic frustum with linearly varying semi-axes: pi L integral_0^1 a(t) b(t) dt
    #   = pi L (a0 b0 + (a0 b1 + a1 b0) / 2 + a1 b1) / 3
    a0, b0 = wrist_r
    a1, b1 = end_r
    exact = math.pi * length * (a0 * b0 + (a0 * b1 + a1 * b0) / 2 + a1 * b1) / 3
    assert volume == pytest.approx(exact, rel=0.01)
    # every edge shared by exactly two faces (closed surface)
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()
    with pytest.raises(ValueError):
        forearm_mesh(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 2.0]), 0.2, wrist_r, end_r)
