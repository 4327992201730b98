"""Tests of the rendering losses (photometric, silhouette) through the soft rasterizer."""

from __future__ import annotations

import pytest
import torch

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.losses.rendering import photometric_loss, silhouette_loss
from hand_mesh_core.render import Renderer, uniform_sh
from hand_mesh_core.render.primitives import uv_ellipsoid

WIDTH, HEIGHT = 64, 48


@pytest.fixture(scope="module")
def scene():
    """Two hand-sized meshes in one image and one in another, with albedo and SH lighting."""
    v, f = uv_ellipsoid(rings=8, segments=14)
    g = torch.Generator().manual_seed(0)
    vertices = torch.stack([v + torch.tensor([-0.05, 0.0, 0.5]), v + torch.tensor([0.06, 0.02, 0.55]), v + torch.tensor([0.0, 0.0, 0.45])])
    albedo = 0.4 + 0.3 * torch.rand(3, len(v), 3, generator=g)
    sh = uniform_sh(0.9).reshape(1, 27).repeat(3, 1) + 0.1 * torch.randn(3, 27, generator=g)
    K = torch.tensor(intrinsics_from_fov(WIDTH, HEIGHT), dtype=torch.float32)
    mesh_to_image = torch.tensor([0, 0, 1])
    return dict(vertices=vertices, faces=f, albedo=albedo, sh=sh, K=K, mesh_to_image=mesh_to_image)


def render(scene, vertices=None, albedo=None, sh=None):
    return Renderer((WIDTH, HEIGHT)).render(
        scene["vertices"] if vertices is None else vertices,
        scene["faces"],
        scene["K"],
        albedo=scene["albedo"] if albedo is None else albedo,
        sh=scene["sh"] if sh is None else sh,
        mesh_to_image=scene["mesh_to_image"],
        num_images=2,
    )


def test_photometric_loss_is_zero_at_the_ground_truth_and_pulls_back_away_from_it(scene):
    target = render(scene)
    image, skin = target.rgb.detach(), (target.silhouette > 0.5).float()
    assert float(photometric_loss(target.rgb, image, target.silhouette, skin)) == 0.0

    shift = torch.tensor([0.01, -0.005, 0.0])
    vertices = (scene["vertices"] + shift).requires_grad_()
    albedo = (scene["albedo"] * 0.8).requires_grad_()
    sh = (scene["sh"] + 0.2).requires_grad_()
    out = render(scene, vertices, albedo, sh)
    loss = photometric_loss(out.rgb, image, out.silhouette, skin)
    assert float(loss.detach()) > 1e-3
    loss.backward()
    for grad in (vertices.grad, albedo.grad, sh.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # a small step along the negative gradient of the colour terms lowers the loss
    with torch.no_grad():
        step_albedo = 0.02 * albedo.grad / albedo.grad.abs().max()
        step_sh = 0.02 * sh.grad / sh.grad.abs().max()
        better = render(scene, vertices, albedo - step_albedo, sh - step_sh)
        assert float(photometric_loss(better.rgb, image, better.silhouette, skin)) < float(loss)


def test_photometric_loss_ignores_pixels_outside_the_masks(scene):
    out = render(scene)
    image = out.rgb.detach() + 0.1
    mask = torch.zeros(2, HEIGHT, WIDTH)
    mask[:, :, : WIDTH // 2] = 1.0
    base = photometric_loss(out.rgb, image, out.silhouette, mask)
    changed = image.clone()
    changed[:, :, WIDTH // 2 :] = 0.9  # outside the skin mask
    changed[:, :2] = 0.0  # outside the rendered silhouette (top rows are empty)
    assert float(out.silhouette[:, :2].max()) < 1e-4
    assert float(photometric_loss(out.rgb, changed, out.silhouette, mask)) == pytest.approx(float(base), rel=1e-3)
    # a constant error of 0.1 on every channel, whatever the weights: 0.01
    assert float(base) == pytest.approx(0.01, rel=1e-4)
    # an empty region gives exactly zero, not NaN
    assert float(photometric_loss(out.rgb, image, out.silhouette, torch.zeros(2, HEIGHT, WIDTH))) == 0.0


def test_photometric_silhouette_gradient_can_be_detached(scene):
    vertices = scene["vertices"].clone().requires_grad_()
    out = render(scene, vertices, albedo=torch.full_like(scene["albedo"], 0.5), sh=uniform_sh().reshape(1, 27).repeat(3, 1))
    # unlit uniform colour: the rendered RGB is 0.5 everywhere the meshes are, so the only
    # route from the loss to the vertices is the silhouette weight
    image = torch.rand(2, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(3))
    (g_attached,) = torch.autograd.grad(photometric_loss(out.rgb, image, out.silhouette), vertices, retain_graph=True)
    (g_detached,) = torch.autograd.grad(photometric_loss(out.rgb, image, out.silhouette, detach_silhouette=True), vertices)
    assert g_attached.abs().sum() > 0
    assert g_detached.abs().max() < 1e-4 * g_attached.abs().max()


def test_silhouette_loss_is_minimal_at_the_ground_truth_with_gradients_to_the_vertices(scene):
    target = render(scene).silhouette.detach()
    assert float(silhouette_loss(target, target)) == 0.0
    hard = (target > 0.5).float()
    at_truth = float(silhouette_loss(target, hard))
    for dx, dy in ((0.004, 0.0), (-0.004, 0.0), (0.0, 0.004), (0.0, -0.004)):
        moved = render(scene, scene["vertices"] + torch.tensor([dx, dy, 0.0])).silhouette
        assert float(silhouette_loss(moved, hard)) > at_truth

    vertices = (scene["vertices"] + torch.tensor([0.01, 0.0, 0.0])).requires_grad_()
    loss = silhouette_loss(render(scene, vertices).silhouette, target)
    loss.backward()
    assert torch.isfinite(vertices.grad).all() and vertices.grad.abs().sum() > 0
    # the rendered mask is not detached: the translation gradient points back (-x is downhill)
    assert float(vertices.grad[..., 0].sum()) > 0
    assert abs(float(vertices.grad[..., 0].sum())) > 3 * abs(float(vertices.grad[..., 1].sum()))
    with torch.no_grad():
        stepped = vertices - 0.002 * vertices.grad / vertices.grad.abs().max()
        assert float(silhouette_loss(render(scene, stepped).silhouette, target)) < float(loss)


def test_silhouette_loss_valid_mask_and_errors(scene):
    sil = render(scene).silhouette.detach()
    target = torch.zeros_like(sil)
    valid = torch.zeros_like(sil)
    valid[0] = 1.0
    assert float(silhouette_loss(sil, target, valid)) == pytest.approx(float(sil[0].square().mean()), rel=1e-5)
    assert float(silhouette_loss(sil, target, torch.zeros_like(sil))) == 0.0
    with pytest.raises(ValueError, match="target"):
        silhouette_loss(sil, target[:1])
    with pytest.raises(ValueError, match="valid"):
        silhouette_loss(sil, target, valid * 2.0)
    with pytest.raises(ValueError, match="mask"):
        photometric_loss(torch.zeros(2, HEIGHT, WIDTH, 3), torch.zeros(2, HEIGHT, WIDTH, 3), sil, -valid)
    with pytest.raises(ValueError, match="image"):
        photometric_loss(torch.zeros(2, HEIGHT, WIDTH, 3), torch.zeros(1, HEIGHT, WIDTH, 3), sil)
