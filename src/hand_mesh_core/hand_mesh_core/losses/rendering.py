"""Rendering losses: photometric (SH-shaded RGB) and silhouette, through the soft rasterizer.

Source: Ren, Zhu, Zhang (CVIU 2023) and their public code — a photometric loss, L2 between
the rendered RGB and the image inside the rendered hand mask AND a skin mask (weight x100),
and a silhouette loss between the rendered mask and the hand mask (weight x20). Their code
detached the rendered mask, so the silhouette loss passed no gradient to the mesh; here the
soft silhouette of :mod:`hand_mesh_core.render` (Liu et al., ICCV 2019) keeps its gradient
in both losses.

Inputs are what :meth:`hand_mesh_core.render.Renderer.render` returns for ``B`` images of
``H x W`` pixels: ``silhouette [B, H, W]`` in [0, 1], ``rgb [B, H, W, 3]``; images are RGB
in the same value range as the rendered colours (linear, typically [0, 1]); masks are
``[B, H, W]`` in [0, 1] (bool accepted). Both losses are weighted means over every pixel
of the batch and return a scalar; with no pixel weighted they return exactly 0 (and a zero
gradient).
"""

from __future__ import annotations

import torch


def _as_map(value: torch.Tensor | None, shape: torch.Size, name: str, like: torch.Tensor, check_range: bool = True) -> torch.Tensor | None:
    """Check a ``[B, H, W]`` map and return it in ``like``'s dtype (None passes through)."""
    if value is None:
        return None
    if value.shape != shape:
        raise ValueError(f"{name} must be [B, H, W] = {list(shape)}, got {list(value.shape)}")
    value = value.to(dtype=like.dtype, device=like.device)
    if check_range and value.numel() and (float(value.min()) < 0.0 or float(value.max()) > 1.0):
        raise ValueError(f"{name} must lie in [0, 1]")
    return value


def photometric_loss(
    rendered_rgb: torch.Tensor,
    image: torch.Tensor,
    silhouette: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    detach_silhouette: bool = False,
) -> torch.Tensor:
    """Squared RGB error inside the rendered silhouette and the skin / foreground mask.

    Args:
        rendered_rgb: ``[B, H, W, 3]`` rendered colour (:attr:`RenderOutput.rgb`).
        image: ``[B, H, W, 3]`` observed image, same value range (e.g. RGB / 255).
        silhouette: ``[B, H, W]`` rendered soft silhouette in [0, 1].
        mask: ``[B, H, W]`` in [0, 1], skin or hand-foreground mask of the image; None = all
            pixels (then only the rendered silhouette selects pixels).
        detach_silhouette: stop the gradient through the weight ``silhouette * mask``, so
            only the rendered colours are pulled towards the image. By default the gradient
            also flows through the silhouette (pixels whose colour error is above the
            current mean push the silhouette away, those below pull it in).

    Returns:
        Scalar: ``sum_p W_p |rgb_p - image_p|^2 / (3 sum_p W_p)`` over all pixels of the
        batch with ``W = silhouette * mask`` (per-channel mean squared error inside the
        weighted region); 0 when the region is empty.

    Raises:
        ValueError: on mismatched shapes or a mask outside [0, 1] (the silhouette, a renderer
        output, is not range-checked: that would cost a device sync per call).
    """
    if rendered_rgb.ndim != 4 or rendered_rgb.shape[-1] != 3:
        raise ValueError(f"rendered_rgb must be [B, H, W, 3], got {list(rendered_rgb.shape)}")
    if image.shape != rendered_rgb.shape:
        raise ValueError(f"image must match rendered_rgb {list(rendered_rgb.shape)}, got {list(image.shape)}")
    weight = _as_map(silhouette, rendered_rgb.shape[:3], "silhouette", rendered_rgb, check_range=False)
    mask = _as_map(mask, rendered_rgb.shape[:3], "mask", rendered_rgb)
    if mask is not None:
        weight = weight * mask
    if detach_silhouette:
        weight = weight.detach()
    error = (rendered_rgb - image.to(rendered_rgb.dtype)).pow(2).sum(-1)
    return (weight * error).sum() / (3.0 * weight.sum()).clamp_min(1e-8)


def silhouette_loss(
    silhouette: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared error between the rendered soft silhouette and the hand mask.

    The gradient flows through ``silhouette`` to the mesh vertices (unlike the authors'
    code, which detached the rendered mask).

    Args:
        silhouette: ``[B, H, W]`` rendered soft silhouette in [0, 1]
            (:attr:`RenderOutput.silhouette`, the union of the image's hands).
        target: ``[B, H, W]`` hand mask in [0, 1] (union of the image's hands).
        valid: ``[B, H, W]`` in [0, 1], pixels where the mask is trustworthy (e.g. 0 over
            unannotated hands or padding); None = all pixels.

    Returns:
        Scalar: ``sum_p V_p (silhouette_p - target_p)^2 / sum_p V_p``; 0 when no pixel is
        valid.

    Raises:
        ValueError: on mismatched shapes or ``target`` / ``valid`` outside [0, 1].
    """
    if silhouette.ndim != 3:
        raise ValueError(f"silhouette must be [B, H, W], got {list(silhouette.shape)}")
    target = _as_map(target, silhouette.shape, "target", silhouette)
    valid = _as_map(valid, silhouette.shape, "valid", silhouette)
    error = (silhouette - target).pow(2)
    if valid is None:
        return error.mean() if error.numel() else error.sum()
    return (valid * error).sum() / valid.sum().clamp_min(1e-8)
