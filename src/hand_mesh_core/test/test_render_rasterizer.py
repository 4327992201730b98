"""Tests of the tiled soft rasterizer: gradients, tiling, batching, geometry, occlusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.render import Renderer, SoftRasterSettings, pack_meshes, soft_rasterize
from hand_mesh_core.render.primitives import uv_ellipsoid
from hand_mesh_core.render.rasterizer import perspective_correct, pixel_triangle_terms

# A small closed mesh (octahedron), faces counter-clockwise seen from outside.
OCTA_VERTICES = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
OCTA_FACES = torch.tensor([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])


def octahedron(centre, size, rotation_seed=None, dtype=torch.float64):
    """Octahedron vertices ``[6, 3]`` (metres) around ``centre``, optionally randomly rotated."""
    v = torch.tensor(OCTA_VERTICES, dtype=dtype) * size
    if rotation_seed is not None:
        q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(rotation_seed), dtype=dtype))
        v = v @ q.T
    return v + torch.tensor(centre, dtype=dtype)


def camera(width, height, dtype=torch.float64):
    return torch.tensor(intrinsics_from_fov(width, height, 60.0), dtype=dtype)


def dense_reference(vertices, faces, K, mesh_to_image, num_images, width, height, colours, settings):
    """Untiled oracle: every pixel against every face of its image, plain products / softmax."""
    uv = vertices[..., :2] / vertices[..., 2:3] * torch.stack([K[:, 0, 0], K[:, 1, 1]], -1)[:, None] + torch.stack([K[:, 0, 2], K[:, 1, 2]], -1)[:, None]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=vertices.dtype), torch.arange(width, dtype=vertices.dtype), indexing="ij")
    pixels = torch.stack([xs, ys], -1).reshape(-1, 1, 2) + 0.5  # [HW, 1, 2]
    r2 = settings.sigma * math.log(1.0 / settings.dist_eps - 1.0)
    sil, rgb = [], []
    for b in range(num_images):
        meshes = [m for m in range(vertices.shape[0]) if int(mesh_to_image[m]) == b]
        if not meshes:
            sil.append(torch.zeros(height, width, dtype=vertices.dtype))
            rgb.append(torch.zeros(height, width, 3, dtype=vertices.dtype))
            continue
        tri = torch.cat([uv[m][faces] for m in meshes])  # [F', 3, 2]
        tri_z = torch.cat([vertices[m, :, 2][faces] for m in meshes])
        tri_c = torch.cat([colours[m][faces] for m in meshes])  # [F', 3, 3]
        d2, inside, bary = pixel_triangle_terms(pixels, tri.unsqueeze(0))  # [HW, F']
        keep = inside | (d2 <= r2)
        x = torch.where(inside, d2, -d2) / settings.sigma
        coverage = torch.where(keep, torch.sigmoid(x), torch.zeros_like(x))
        sil.append((1.0 - torch.prod(1.0 - coverage, dim=1)).reshape(height, width))
        depth, bary3d = perspective_correct(bary, tri_z.unsqueeze(0))
        logits = torch.where(keep, torch.log(coverage.clamp_min(1e-300)) - depth / settings.gamma, torch.full_like(x, -math.inf))
        logits = torch.cat([logits, torch.full_like(logits[:, :1], -settings.far / settings.gamma)], dim=1)
        weights = torch.softmax(logits, dim=1)
        values = (bary3d.unsqueeze(-1) * tri_c.unsqueeze(0)).sum(-2)  # [HW, F', 3]
        rgb.append((weights[:, :-1, None] * values).sum(1).reshape(height, width, 3))
    return torch.stack(sil), torch.stack(rgb)


def test_pixel_triangle_terms_known_geometry():
    tri = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    pts = torch.tensor([[1.0, 1.0], [5.0, -3.0], [-2.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    d2, inside, bary = pixel_triangle_terms(pts, tri.expand(4, 3, 2))
    assert inside.tolist() == [True, False, False, False]
    # inside: distance to the nearest edge (x = 1 or y = 1); outside: to the closest point
    assert torch.allclose(d2, torch.tensor([1.0, 10.0, 4.0, 2.0], dtype=torch.float64))
    assert torch.allclose(bary[0], torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64))
    assert torch.allclose(bary[1], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))  # corner b
    assert torch.allclose(bary[2], torch.tensor([0.5, 0.0, 0.5], dtype=torch.float64))  # middle of c-a
    assert torch.allclose(bary.sum(-1), torch.ones(4, dtype=torch.float64))
    # winding does not matter
    d2r, inside_r, bary_r = pixel_triangle_terms(pts, tri[[0, 2, 1]].expand(4, 3, 2))
    assert torch.equal(inside_r, inside) and torch.allclose(d2r, d2) and torch.allclose(bary_r, bary[:, [0, 2, 1]])


def test_gradients_match_finite_differences():
    """Silhouette and shaded colour against central differences, float64, small mesh."""
    width, height = 13, 11  # not square: catches swapped axes
    K = camera(width, height)
    vertices = octahedron([0.01, -0.005, 0.5], 0.11, rotation_seed=3).unsqueeze(0).requires_grad_()
    albedo = torch.rand(1, 6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64).requires_grad_()
    # dist_eps tiny: the cutoff then sits where coverage is ~1e-12 (the truncation is not smooth)
    settings = SoftRasterSettings(sigma=2.0, gamma=0.01, dist_eps=1e-12, tile_size=4)

    def render(v, a):
        out = soft_rasterize(v, OCTA_FACES, K[None], torch.zeros(1, dtype=torch.long), 1, width, height, attributes=a, settings=settings)
        return out.silhouette, out.attributes

    sil, rgb = render(vertices, albedo)
    assert 0.0 < float(sil.detach().sum()) < width * height
    assert torch.autograd.gradcheck(render, (vertices, albedo), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_tiled_matches_dense_reference_and_chunking_keeps_gradients():
    width, height = 21, 17
    K = camera(width, height)
    vertices = torch.stack([octahedron([0.03, 0.0, 0.5], 0.1, 1), octahedron([-0.05, 0.03, 0.6], 0.12, 2), octahedron([0.0, 0.0, 0.7], 0.2, 5)])
    mesh_to_image = torch.tensor([0, 0, 2])  # image 1 is empty
    colours = torch.rand(3, 6, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref_settings = SoftRasterSettings(sigma=1.5, gamma=0.02, tile_size=4)
    ref_sil, ref_rgb = dense_reference(vertices, OCTA_FACES, K.expand(3, 3, 3), mesh_to_image, 3, width, height, colours, ref_settings)
    assert float(ref_sil[0].max()) > 0.99 and float(ref_sil[1].max()) == 0.0

    grads = []
    for chunk in (4_000_000, 300):  # one chunk; many chunks recomputed in the backward pass
        settings = SoftRasterSettings(sigma=1.5, gamma=0.02, tile_size=4, max_pairs_per_chunk=chunk)
        v = vertices.clone().requires_grad_()
        out = soft_rasterize(v, OCTA_FACES, K.expand(3, 3, 3), mesh_to_image, 3, width, height, attributes=colours, settings=settings)
        assert torch.allclose(out.silhouette, ref_sil, atol=1e-10)
        assert torch.allclose(out.attributes, ref_rgb, atol=1e-10)
        (out.silhouette.square().sum() + out.attributes.sum()).backward()
        grads.append(v.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-10)
    assert grads[0].abs().sum() > 0


def test_tile_size_does_not_change_the_result():
    width, height = 40, 30
    K = camera(width, height, torch.float32)
    v, f = uv_ellipsoid(rings=6, segments=10)
    v = (v + torch.tensor([0.0, 0.0, 0.3])).unsqueeze(0)
    outs = [Renderer((width, height), tile_size=t).render(v, f, K, albedo=torch.full((1, v.shape[1], 3), 0.5)) for t in (1, 7, 16, 64)]
    for out in outs[1:]:
        assert torch.allclose(out.silhouette, outs[0].silhouette, atol=1e-6)
        assert torch.allclose(out.rgb, outs[0].rgb, atol=1e-6)
        assert torch.equal(out.face_index, outs[0].face_index)
        assert out.num_pairs == outs[0].num_pairs


def test_batched_rendering_equals_rendering_separately():
    width, height = 32, 24
    K = torch.stack([camera(width, height), camera(width, height) * torch.tensor([[1.2], [1.2], [1.0]], dtype=torch.float64)])
    per_image = [
        torch.stack([octahedron([0.04, 0.0, 0.5], 0.08, 1)]),
        torch.stack([octahedron([-0.05, 0.0, 0.5], 0.08, 2), octahedron([0.05, 0.02, 0.55], 0.09, 3)]),
    ]
    albedo = [torch.full((len(m), 6, 3), 0.3 + 0.2 * i, dtype=torch.float64) for i, m in enumerate(per_image)]
    sh = [torch.randn(len(m), 27, generator=torch.Generator().manual_seed(i), dtype=torch.float64) for i, m in enumerate(per_image)]
    renderer = Renderer((width, height), tile_size=8)
    vertices, mesh_to_image = pack_meshes(per_image)
    together = renderer.render(vertices, OCTA_FACES, K, albedo=torch.cat(albedo), sh=torch.cat(sh), mesh_to_image=mesh_to_image)
    assert together.silhouette.shape == (2, height, width) and together.rgb.shape == (2, height, width, 3)
    for b in range(2):
        alone = renderer.render(per_image[b], OCTA_FACES, K[b], albedo=albedo[b], sh=sh[b], mesh_to_image=torch.zeros(len(per_image[b]), dtype=torch.long))
        assert torch.allclose(together.silhouette[b], alone.silhouette[0], atol=1e-12)
        assert torch.allclose(together.rgb[b], alone.rgb[0], atol=1e-12)
        assert torch.allclose(together.depth[b], alone.depth[0], atol=1e-12)
        assert torch.equal(together.face_index[b], alone.face_index[0])
    # the second image's two hands both show up in the mesh index map
    assert set(together.mesh_index[1].unique().tolist()) == {-1, 1, 2}


def test_silhouette_covers_projected_mesh_and_depth_is_metric():
    width, height = 96, 80
    K_np = intrinsics_from_fov(width, height)
    K = torch.tensor(K_np, dtype=torch.float32)
    v, f = uv_ellipsoid()
    centre = torch.tensor([0.02, -0.01, 0.45])
    vertices = (v + centre).unsqueeze(0)
    out = Renderer((width, height)).render(vertices, f, K)
    sil = out.silhouette[0].numpy()
    uv = project_np(vertices[0].numpy().astype(np.float64), K_np)
    cols, rows = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    # every vertex projects onto (or within half a pixel of) the soft silhouette
    assert sil[rows, cols].min() > 0.3
    # interior points (the mesh shrunk towards its centre) are fully covered
    inner = project_np((v * 0.7 + centre).numpy().astype(np.float64), K_np)
    assert sil[np.floor(inner[:, 1]).astype(int), np.floor(inner[:, 0]).astype(int)].min() > 0.999
    # the hard mask spans the projected vertices' extent to within a pixel
    hit_rows, hit_cols = np.nonzero(out.face_index[0].numpy() >= 0)
    assert abs(hit_cols.min() - uv[:, 0].min()) < 1.5 and abs(hit_cols.max() + 1 - uv[:, 0].max()) < 1.5
    assert abs(hit_rows.min() - uv[:, 1].min()) < 1.5 and abs(hit_rows.max() + 1 - uv[:, 1].max()) < 1.5
    # the hard mask's area is the projected ellipse's (semi-axes f * r / z); the soft
    # silhouette is wider by a band of about a pixel along the contour (SoftRas's product)
    a, b = K_np[0, 0] * 0.09 / 0.45, K_np[1, 1] * 0.045 / 0.45
    ellipse = math.pi * a * b
    perimeter = math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))
    assert abs(len(hit_rows) - ellipse) / ellipse < 0.03
    growth = (float(out.silhouette.sum()) - ellipse) / perimeter
    assert 0.2 < growth < 2.0
    # depth at the pixel of the centre ray is the front surface: z0 - rz (mesh chord error < 1 mm)
    cu, cv = project_np(centre.numpy().astype(np.float64)[None], K_np)[0]
    assert abs(float(out.depth[0, int(cv), int(cu)]) - (0.45 - 0.015)) < 1e-3
    # outside the silhouette: no face, zero depth
    assert int(out.face_index[0, 0, 0]) == -1 and float(out.depth[0, 0, 0]) == 0.0


def test_nearer_surface_occludes_regardless_of_order():
    width, height = 32, 32
    K = camera(width, height, torch.float32)
    square = torch.tensor([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=torch.float32) * 0.1
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    near, far = square + torch.tensor([0.0, 0.0, 0.5]), square + torch.tensor([0.03, 0.0, 0.52])
    red, green = torch.tensor([1.0, 0.0, 0.0]).expand(1, 4, 3), torch.tensor([0.0, 1.0, 0.0]).expand(1, 4, 3)
    renderer = Renderer(width)
    for order in ((near, red, far, green), (far, green, near, red)):
        verts = torch.stack([order[0], order[2]])
        albedo = torch.cat([order[1], order[3]])
        out = renderer.render(verts, faces, K, albedo=albedo, mesh_to_image=torch.zeros(2, dtype=torch.long), num_images=1)
        assert torch.allclose(out.rgb[0, 16, 16], torch.tensor([1.0, 0.0, 0.0]), atol=1e-4)
        assert float(out.depth[0, 16, 16]) == pytest.approx(0.5, abs=1e-5)
        near_mesh = 0 if order[0] is near else 1
        assert int(out.mesh_index[0, 16, 16]) == near_mesh


def test_near_plane_and_empty_images():
    width, height = 24, 20
    K = camera(width, height, torch.float32)
    v, f = uv_ellipsoid(rings=5, segments=8)
    crossing = (v * torch.tensor([1.0, 1.0, 10.0]) + torch.tensor([0.0, 0.0, 0.05])).requires_grad_()  # z from -0.1 to 0.2
    behind = v + torch.tensor([0.0, 0.0, -0.5])
    verts, mesh_to_image = pack_meshes([crossing.unsqueeze(0), behind.unsqueeze(0), v.unsqueeze(0)[:0]])
    bg = torch.tensor([0.1, 0.2, 0.3])
    out = Renderer((width, height)).render(verts, f, K, albedo=torch.full_like(verts, 0.5), mesh_to_image=mesh_to_image, num_images=3, background=bg)
    assert out.silhouette.shape == (3, height, width)
    assert torch.isfinite(out.silhouette).all() and torch.isfinite(out.rgb).all() and torch.isfinite(out.depth).all()
    assert float(out.silhouette[1:].detach().max()) == 0.0
    assert torch.allclose(out.rgb[1:], bg.expand(2, height, width, 3))
    assert (out.depth[0][out.face_index[0] >= 0] > 0.01).all()  # no face in front of the near plane
    (out.silhouette.sum() + out.rgb.sum()).backward()
    assert torch.isfinite(crossing.grad).all()


def test_visible_vertices_are_the_front_ones():
    v, f = uv_ellipsoid(rings=10, segments=16, radii=(0.05, 0.05, 0.05))
    vertices = (v + torch.tensor([0.0, 0.0, 0.4])).unsqueeze(0)
    out = Renderer(128).render(vertices, f, camera(128, 128, torch.float32))
    visible = out.visible_vertices(f, 1, v.shape[0])[0]
    assert bool(visible[v[:, 2].argmin()])  # the pole facing the camera
    assert not bool(visible[v[:, 2].argmax()])  # the pole facing away
    assert not visible[v[:, 2] > 0.01].any()  # the far hemisphere is hidden


def test_bad_inputs_raise():
    K = camera(16, 16, torch.float32)
    v = octahedron([0, 0, 0.5], 0.1, dtype=torch.float32).unsqueeze(0)
    renderer = Renderer(16)
    with pytest.raises(ValueError, match="backend"):
        Renderer(16, backend="nvdiffrast")
    with pytest.raises(ValueError):
        Renderer((0, 16))
    with pytest.raises(ValueError, match="focal"):
        renderer.render(v, OCTA_FACES, K * torch.tensor([[-1.0], [1.0], [1.0]]))
    with pytest.raises(ValueError, match="mesh_to_image"):
        renderer.render(v, OCTA_FACES, K.expand(2, 3, 3), mesh_to_image=torch.tensor([2]))
    with pytest.raises(ValueError, match="face indices"):
        renderer.render(v, OCTA_FACES + 6, K)
    with pytest.raises(ValueError, match="albedo"):
        renderer.render(v, OCTA_FACES, K, albedo=torch.ones(1, 5, 3))
    with pytest.raises(ValueError, match="SH"):
        renderer.render(v, OCTA_FACES, K, sh=torch.ones(1, 26))
    with pytest.raises(ValueError, match="sigma"):
        SoftRasterSettings(sigma=0.0)


def test_half_precision_and_autocast_are_lifted_to_float32():
    K = camera(48, 40, torch.float32)
    v, f = uv_ellipsoid(rings=6, segments=10)
    vertices = (v + torch.tensor([0.0, 0.0, 0.3])).unsqueeze(0).half()
    albedo = torch.full((1, v.shape[0], 3), 0.5, dtype=torch.bfloat16)
    renderer = Renderer((48, 40))
    reference = renderer.render(vertices.float(), f, K, albedo=albedo.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = renderer.render(vertices, f, K, albedo=albedo, sh=None)
    assert out.silhouette.dtype == torch.float32 and out.rgb.dtype == torch.float32
    assert torch.allclose(out.silhouette, reference.silhouette, atol=1e-6)
    assert torch.allclose(out.rgb, reference.rgb, atol=1e-6)


def test_a_batch_without_any_mesh_renders_background():
    v, f = uv_ellipsoid(rings=3, segments=5)
    K = camera(32, 24, torch.float32)
    out = Renderer((32, 24)).render(
        v.unsqueeze(0)[:0], f, K.expand(2, 3, 3), albedo=torch.zeros(0, len(v), 3), sh=torch.zeros(0, 27),
        mesh_to_image=torch.zeros(0, dtype=torch.long), background=torch.tensor([0.2, 0.3, 0.4]),
    )
    assert out.silhouette.shape == (2, 24, 32) and float(out.silhouette.abs().max()) == 0.0
    assert torch.allclose(out.rgb, torch.tensor([0.2, 0.3, 0.4]).expand(2, 24, 32, 3))
    assert out.num_pairs == 0 and bool((out.face_index == -1).all()) and bool((out.mesh_index == -1).all())
