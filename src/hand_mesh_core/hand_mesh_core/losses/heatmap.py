"""Heatmap losses and targets: centre and handedness focal losses, Gaussian target rendering.

Sources:

- penalty-reduced focal loss: Law & Deng, "CornerNet: Detecting Objects as Paired
  Keypoints", ECCV 2018, eq. 1 (alpha = 2, beta = 4), as used for object centres by Zhou,
  Wang, Kraehenbuehl, "Objects as Points" (CenterNet), 2019, eq. 1, and for hand centres and
  handedness by Ren, Zhu, Zhang (CVIU 2023; weights x100 each in their code);
- Gaussian radius from the object size: CornerNet Sec. 3.2 (the radius within which a
  shifted box keeps IoU >= ``min_overlap`` with the true one), Gaussian sigma = diameter / 6
  as in CenterNet. The three IoU cases are derived in :func:`gaussian_radius`.

Maps are ``[B, C, h, w]`` in output-map cells; logits are raw (before the sigmoid).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    alpha: float = 2.0,
    beta: float = 4.0,
) -> torch.Tensor:
    """CornerNet penalty-reduced focal loss, summed over the map and divided by the positives.

    Args:
        logits: ``[B, C, h, w]`` float, raw scores; ``p = sigmoid(logits)``.
        target: same shape, values in ``[0, 1]``; cells equal to 1 are positives (object
            centres), the others negatives whose penalty is reduced by ``(1 - target)^beta``.
        mask: same shape, 1 where a cell counts, 0 where it is ignored (e.g. around a hand
            of unknown side in the handedness map); None = every cell.
        alpha, beta: exponents of the paper (2 and 4).

    Returns:
        Scalar ``-(sum_pos (1-p)^a log p + sum_neg (1-y)^b p^a log(1-p)) / max(1, N_pos)``.
        0 when ``p`` is 1 on every positive and 0 elsewhere; computed from log-sigmoids, so
        finite for any finite logits.

    Raises:
        ValueError: shape mismatch or target values outside ``[0, 1]``.
    """
    if logits.shape != target.shape or (mask is not None and mask.shape != target.shape):
        raise ValueError(f"logits {tuple(logits.shape)}, target {tuple(target.shape)} and mask differ in shape")
    if target.numel() and (float(target.min()) < 0.0 or float(target.max()) > 1.0):
        raise ValueError("target values must be in [0, 1]")
    logits = logits.float()
    target = target.float()
    pos = target.eq(1.0)
    p = torch.sigmoid(logits)
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    pos_term = (1.0 - p).pow(alpha) * log_p
    neg_term = (1.0 - target).pow(beta) * p.pow(alpha) * log_not_p
    term = torch.where(pos, pos_term, neg_term)
    if mask is not None:
        mask = mask.to(term.dtype)
        term = term * mask
        pos = pos & (mask > 0)
    return -term.sum() / pos.sum().clamp(min=1)


def centre_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Focal loss of the hand-centre heatmap: ``logits``/``target`` ``[B, 1, h, w]``.

    Target: a Gaussian peak of 1 at each hand's centre cell (:func:`render_gaussians`).
    See :func:`focal_loss` for the formula, result and errors.
    """
    if logits.ndim != 4 or logits.shape[1] != 1:
        raise ValueError(f"centre logits must be [B, 1, h, w], got {tuple(logits.shape)}")
    return focal_loss(logits, target)


def handedness_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Focal loss of the handedness map: ``logits``/``target``/``mask`` ``[B, 2, h, w]``.

    Channel 0 is left, 1 right; each hand's Gaussian is drawn in the channel of its side
    only (the other channel is a negative there); ``mask`` removes the windows of hands of
    unknown side. See :func:`focal_loss`.
    """
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"handedness logits must be [B, 2, h, w], got {tuple(logits.shape)}")
    return focal_loss(logits, target, mask)


def keypoint_heatmap_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Focal loss of the keypoint heatmaps: ``logits``/``target``/``mask`` ``[B, 21, h, w]``.

    Channel ``j`` holds keypoint ``j`` of every hand of the image (CenterNet's joint
    heatmaps, Zhou et al. 2019); ``mask`` removes the windows of keypoints whose position is
    unknown. Target from :func:`~hand_mesh_core.training.targets.keypoint_heatmap_targets`.
    See :func:`focal_loss` for the formula, result and errors.
    """
    if logits.ndim != 4 or logits.shape[1] != 21:
        raise ValueError(f"keypoint heatmap logits must be [B, 21, h, w], got {tuple(logits.shape)}")
    return focal_loss(logits, target, mask)


def side_cross_entropy(
    logits: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor, is_right: torch.Tensor,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-hand left/right cross-entropy read from the handedness map at each hand's centre.

    The handedness focal loss (:func:`handedness_focal_loss`) trains each channel as a
    detector of one side; telling the sides apart is a small part of it, and a briefly
    trained network ends up with nearly equal channels (measured: ``P(right)`` within
    0.50-0.53 on real images after 1 150 CPU steps, nearly always the same side). This term
    supervises the decision itself: with ``d = l_right - l_left`` at the labelled centre
    cell, binary cross-entropy of ``sigmoid(d)`` against the side. Decoding's
    ``P(right) = p_r / (p_l + p_r)`` (:func:`~hand_mesh_core.network.decoding.handedness_at`)
    is >= 0.5 exactly when ``d >= 0``, so the term trains the quantity decoding thresholds.
    Our addition to the paper's objective (not in Ren, Zhu, Zhang 2023).

    Args:
        logits: ``[B, 2, h, w]`` handedness logits (channel 0 left, 1 right).
        batch_index: ``[N]`` long, image of each hand; cells: ``[N, 2]`` long (row, col).
        is_right: ``[N]`` bool, the labelled side.
        known: ``[N]`` bool, the side is labelled (None = all); unknown sides do not count.

    Returns the mean over hands with a known side (0 when there is none). Raises
    ``ValueError`` for a map without 2 channels.
    """
    if logits.ndim != 4 or logits.shape[1] != 2:
        raise ValueError(f"handedness logits must be [B, 2, h, w], got {tuple(logits.shape)}")
    at = logits[batch_index, :, cells[:, 0], cells[:, 1]].float()  # [N, 2]
    d = at[:, 1] - at[:, 0]
    weight = torch.ones_like(d) if known is None else known.to(d.dtype)
    if d.numel() == 0 or float(weight.sum()) == 0.0:
        return logits.new_zeros(()).float()
    loss = F.binary_cross_entropy_with_logits(d, is_right.to(d.dtype), reduction="none")
    return (loss * weight).sum() / weight.sum()


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """Radius (cells) within which a corner shift keeps ``IoU >= min_overlap`` (CornerNet).

    For a ``height x width`` box and a shift of ``r`` of the two corners, three cases bound
    the IoU; each gives a quadratic in ``r`` whose smaller/positive root is the bound:

    1. one corner in, one out (box translated by r): ``(h-r)(w-r) / (2hw - (h-r)(w-r)) >= o``
       -> ``r^2 - (h+w) r + hw (1-o)/(1+o) >= 0``;
    2. both corners in (box shrunk by r each side): ``(h-2r)(w-2r) / hw >= o``
       -> ``4 r^2 - 2 (h+w) r + (1-o) hw >= 0``;
    3. both corners out (box grown by r each side): ``hw / ((h+2r)(w+2r)) >= o``
       -> ``4 o r^2 + 2 o (h+w) r - (1-o) hw <= 0``.

    Returns the smallest of the three, ``>= 0``. Raises ``ValueError`` for negative sizes or
    ``min_overlap`` outside ``(0, 1)``.
    """
    if height < 0 or width < 0:
        raise ValueError(f"box size must be non-negative, got {height}x{width}")
    if not 0.0 < min_overlap < 1.0:
        raise ValueError(f"min_overlap must be in (0, 1), got {min_overlap}")
    h, w, o = float(height), float(width), float(min_overlap)
    s, p = h + w, h * w
    r1 = (s - math.sqrt(max(s * s - 4.0 * p * (1.0 - o) / (1.0 + o), 0.0))) / 2.0
    r2 = (s - math.sqrt(max(s * s - 4.0 * (1.0 - o) * p, 0.0))) / 4.0
    r3 = (-s + math.sqrt(s * s + 4.0 * (1.0 - o) * p / o)) / 4.0
    return max(0.0, min(r1, r2, r3))


def render_gaussians(
    cells: torch.Tensor, radii: torch.Tensor, size: tuple[int, int], dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Draw one truncated Gaussian per object on an ``h x w`` map, keeping the maximum.

    Args:
        cells: ``[N, 2]`` long ``(row, col)`` peak cells; the map is exactly 1 there.
        radii: ``[N]`` float radii in cells (:func:`gaussian_radius`); the Gaussian has
            ``sigma = (2 floor(r) + 1) / 6`` and is zero beyond ``floor(r)`` cells in either
            direction (a ``(2r+1)^2`` window, as CenterNet draws it).
        size: ``(h, w)`` of the map.

    Returns:
        ``[h, w]`` map in ``[0, 1]`` (zeros when ``N == 0``). Peaks outside the map are
        allowed (their visible tail is drawn). Raises ``ValueError`` for bad shapes or
        negative radii.
    """
    h, w = size
    if cells.ndim != 2 or cells.shape[1] != 2 or radii.shape != cells.shape[:1]:
        raise ValueError(f"cells must be [N, 2] and radii [N], got {tuple(cells.shape)}, {tuple(radii.shape)}")
    if radii.numel() and float(radii.min()) < 0:
        raise ValueError("radii must be non-negative")
    device = cells.device
    if cells.shape[0] == 0:
        return torch.zeros(h, w, dtype=dtype, device=device)
    r = radii.floor().to(dtype)
    sigma = (2.0 * r + 1.0) / 6.0
    dy = torch.arange(h, device=device, dtype=dtype)[None, :, None] - cells[:, 0, None, None].to(dtype)
    dx = torch.arange(w, device=device, dtype=dtype)[None, None, :] - cells[:, 1, None, None].to(dtype)
    g = torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma[:, None, None] ** 2))
    inside = (dy.abs() <= r[:, None, None]) & (dx.abs() <= r[:, None, None])
    g = torch.where(inside, g, torch.zeros((), dtype=dtype, device=device))
    return g.amax(dim=0)
