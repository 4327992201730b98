"""Tests of vertex normals and order-2 spherical-harmonic shading."""

from __future__ import annotations

import math

import pytest
import torch

from hand_mesh_core.render import Renderer, sh_basis, shade_vertices, uniform_sh, vertex_normals
from hand_mesh_core.render.primitives import uv_ellipsoid
from hand_mesh_core.render.shading import as_sh_coefficients, sh_irradiance


def fibonacci_sphere(n: int) -> torch.Tensor:
    """``[n, 3]`` nearly uniform unit directions (equal-area quadrature points)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * i / n
    r = torch.sqrt(1.0 - z * z)
    phi = i * math.pi * (3.0 - math.sqrt(5.0))
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], dim=-1)


def test_ellipsoid_primitive_has_hand_model_size_and_outward_normals():
    v, f = uv_ellipsoid()
    assert v.shape == (1159, 3) and f.shape == (2314, 3)
    # closed 2-manifold: every edge is shared by exactly two faces
    edges = torch.cat([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).sort(dim=1).values
    _, counts = torch.unique(edges, dim=0, return_counts=True)
    assert (counts == 2).all()
    n = vertex_normals(v, f)
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(v)), atol=1e-5)
    assert ((n * v).sum(-1) > 0).all()  # outwards


def test_vertex_normals_of_a_tilted_square_and_batching():
    square = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])  # counter-clockwise about +z
    rot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90 deg about x
    batch = torch.stack([square, square @ rot.T])
    n = vertex_normals(batch, faces)
    assert torch.allclose(n[0], torch.tensor([0.0, 0.0, 1.0]).expand(4, 3))
    assert torch.allclose(n[1], torch.tensor([0.0, -1.0, 0.0]).expand(4, 3), atol=1e-6)
    assert torch.allclose(vertex_normals(batch, faces[:, [0, 2, 1]]), -n)  # winding flips them
    with pytest.raises(ValueError, match="indices"):
        vertex_normals(square, faces + 2)


def test_sh_basis_is_orthonormal_on_the_sphere():
    d = fibonacci_sphere(20000)
    y = sh_basis(d)
    gram = (y.T @ y) * (4.0 * math.pi / len(d))  # integral of Y_i Y_j over the sphere
    assert torch.allclose(gram, torch.eye(9, dtype=torch.float64), atol=2e-3)


def test_irradiance_of_a_distant_light_approximates_the_clamped_cosine():
    """A unit directional light projected on SH gives E(n) ~ max(n . l, 0) (R&H 2001)."""
    light = torch.tensor([0.3, -0.5, -0.8], dtype=torch.float64)
    light = light / light.norm()
    coeffs = sh_basis(light).expand(3, 9)  # L_lm = Y_lm(l) for a delta light of radiance 1
    normals = fibonacci_sphere(2000)
    e = sh_irradiance(normals, coeffs)[:, 0]
    exact = (normals @ light).clamp_min(0.0)
    assert (e - exact).abs().max() < 0.1  # the order-2 approximation's known error bound
    assert float(e[(normals @ light).argmax()]) == pytest.approx(1.0625, abs=1e-3)  # sum_l A_l (2l+1) / 4pi


def test_uniform_light_gives_the_albedo_and_flat_layout_is_channel_major():
    v, f = uv_ellipsoid(rings=4, segments=6)
    normals = vertex_normals(v, f).unsqueeze(0)
    albedo = torch.rand(1, len(v), 3)
    colour = shade_vertices(normals, albedo, uniform_sh(0.8).unsqueeze(0))
    assert torch.allclose(colour, albedo * 0.8, atol=1e-5)
    flat = torch.zeros(27)
    flat[9] = math.sqrt(4.0 * math.pi)  # G channel's L_00
    assert torch.allclose(as_sh_coefficients(flat)[:, 0], torch.tensor([0.0, 1.0, 0.0]) * math.sqrt(4.0 * math.pi))
    assert torch.allclose(shade_vertices(normals, None, flat), torch.tensor([0.0, 1.0, 0.0]).expand(1, len(v), 3), atol=1e-5)
    with pytest.raises(ValueError, match="SH"):
        as_sh_coefficients(torch.zeros(2, 26))
    with pytest.raises(ValueError, match="meshes"):
        shade_vertices(normals, albedo, torch.zeros(2, 27))


def test_rendered_shading_is_brighter_where_the_light_comes_from():
    """Light from the camera's left (-x) lights the left half of a sphere more."""
    v, f = uv_ellipsoid(radii=(0.05, 0.05, 0.05), rings=16, segments=24)
    vertices = (v + torch.tensor([0.0, 0.0, 0.4])).unsqueeze(0)
    direction = torch.tensor([-1.0, 0.0, -0.3])
    sh = (uniform_sh(0.2) + sh_basis(direction / direction.norm()).expand(3, 9) * 2.0).unsqueeze(0)
    K = torch.tensor([[200.0, 0.0, 32.0], [0.0, 200.0, 32.0], [0.0, 0.0, 1.0]])
    out = Renderer(64).render(vertices, f, K, albedo=torch.full((1, len(v), 3), 0.6), sh=sh)
    lum = out.rgb[0].mean(-1)
    inside = out.silhouette[0] > 0.99
    left = lum[:, :28][inside[:, :28]].mean()
    right = lum[:, 36:][inside[:, 36:]].mean()
    assert left > right + 0.1
