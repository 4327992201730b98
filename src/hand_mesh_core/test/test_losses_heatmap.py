"""Centre / handedness focal losses and Gaussian targets (hand_mesh_core.losses.heatmap)."""

from __future__ import annotations

import math

import pytest
import torch

from hand_mesh_core.losses.heatmap import (
    centre_focal_loss,
    focal_loss,
    gaussian_radius,
    handedness_focal_loss,
    render_gaussians,
)


def _target():
    t = render_gaussians(torch.tensor([[3, 4], [10, 12]]), torch.tensor([2.0, 3.0]), (16, 16))
    return t[None, None]


def test_focal_loss_is_near_zero_at_the_ideal_prediction_and_positive_elsewhere():
    target = _target()
    ideal = torch.where(target == 1, torch.tensor(30.0), torch.tensor(-30.0))
    assert centre_focal_loss(ideal, target).item() < 1e-10
    assert centre_focal_loss(torch.zeros_like(target), target).item() > 0.1


def test_focal_loss_matches_the_cornernet_formula_by_hand():
    logits = torch.tensor([[[[0.3, -1.0], [2.0, 0.0]]]])
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.25]]]])
    p = torch.sigmoid(logits)[0, 0]
    pos = (1 - p[0, 0]) ** 2 * math.log(p[0, 0])
    neg = sum((1 - y) ** 4 * p[i, j] ** 2 * math.log(1 - p[i, j])
              for (i, j), y in (((0, 1), 0.5), ((1, 0), 0.0), ((1, 1), 0.25)))
    expected = -(pos + neg) / 1.0
    assert focal_loss(logits, target).item() == pytest.approx(float(expected), rel=1e-5)


def test_focal_loss_gradient_is_finite_and_pushes_towards_the_target():
    target = _target()
    logits = torch.zeros_like(target, requires_grad=True)
    centre_focal_loss(logits, target).backward()
    g = logits.grad
    assert torch.isfinite(g).all()
    assert g[0, 0, 3, 4] < 0  # raise the positive
    assert g[0, 0, 0, 0] > 0  # lower a far negative
    # extreme logits stay finite (log-sigmoid formulation)
    big = torch.full_like(target, 200.0, requires_grad=True)
    loss = centre_focal_loss(big, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()


def test_handedness_mask_removes_cells_and_shape_errors():
    target = torch.cat([_target(), torch.zeros_like(_target())], dim=1)
    logits = torch.zeros_like(target)
    mask = torch.ones_like(target)
    full = handedness_focal_loss(logits, target, mask)
    mask[:, :, 8:, :] = 0  # drop the second hand's window
    assert handedness_focal_loss(logits, target, mask).item() != pytest.approx(full.item())
    assert handedness_focal_loss(logits, target).item() == pytest.approx(full.item())
    with pytest.raises(ValueError):
        centre_focal_loss(logits, target)  # 2 channels
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        focal_loss(logits, target * 2)


@pytest.mark.parametrize("h,w", [(20.0, 20.0), (10.0, 40.0), (3.0, 5.0)])
def test_gaussian_radius_keeps_the_promised_overlap_in_all_three_cases(h, w):
    o = 0.7
    r = gaussian_radius(h, w, o)
    assert r > 0
    iou_shift = (h - r) * (w - r) / (2 * h * w - (h - r) * (w - r))
    iou_shrink = (h - 2 * r) * (w - 2 * r) / (h * w)
    iou_grow = h * w / ((h + 2 * r) * (w + 2 * r))
    ious = (iou_shift, iou_shrink, iou_grow)
    assert min(ious) == pytest.approx(o, abs=1e-9)  # the binding case is exactly o
    assert all(i >= o - 1e-9 for i in ious)
    assert gaussian_radius(0.0, 0.0) == 0.0
    with pytest.raises(ValueError):
        gaussian_radius(-1.0, 2.0)


def test_render_gaussians_peaks_at_one_truncates_and_keeps_the_max():
    cells = torch.tensor([[5, 5], [5, 8]])
    g = render_gaussians(cells, torch.tensor([2.0, 1.0]), (12, 12))
    assert g[5, 5] == 1.0 and g[5, 8] == 1.0
    assert (g == 1.0).sum() == 2
    assert g[5, 7].item() == pytest.approx(max(math.exp(-4 / (2 * (5 / 6) ** 2)), math.exp(-1 / (2 * 0.5**2))), rel=1e-6)
    assert g[5, 2] == 0.0 and g[8, 5] == 0.0  # beyond radius 2
    assert g[7, 7] > 0.0 and g[8, 8] == 0.0
    assert render_gaussians(cells[:0], torch.zeros(0), (4, 4)).abs().sum() == 0
    edge = render_gaussians(torch.tensor([[0, 11]]), torch.tensor([2.0]), (12, 12))
    assert edge[0, 11] == 1.0 and edge[2, 9] > 0


def test_side_cross_entropy_values_worked_out_by_hand_and_its_gradient_separates_the_channels():
    from hand_mesh_core.losses.heatmap import side_cross_entropy

    logits = torch.zeros(2, 2, 4, 4)
    logits[0, 1, 1, 2] = 3.0  # image 0, cell (1, 2): right channel ahead by 3
    logits[1, 0, 3, 0] = 1.0  # image 1, cell (3, 0): left channel ahead by 1
    b, cells = torch.tensor([0, 1]), torch.tensor([[1, 2], [3, 0]])
    right = torch.tensor([True, False])
    expected = (math.log1p(math.exp(-3.0)) + math.log1p(math.exp(-1.0))) / 2  # both correct
    assert side_cross_entropy(logits, b, cells, right).item() == pytest.approx(expected, rel=1e-6)
    wrong = (math.log1p(math.exp(3.0)) + math.log1p(math.exp(1.0))) / 2
    assert side_cross_entropy(logits, b, cells, ~right).item() == pytest.approx(wrong, rel=1e-6)
    # a hand of unknown side does not count; none known -> 0
    known = torch.tensor([True, False])
    assert side_cross_entropy(logits, b, cells, right, known).item() == pytest.approx(math.log1p(math.exp(-3.0)), rel=1e-6)
    assert side_cross_entropy(logits, b, cells, right, torch.tensor([False, False])).item() == 0.0
    # the gradient raises the labelled side's channel and lowers the other, at the centre only
    x = torch.zeros(1, 2, 4, 4, requires_grad=True)
    side_cross_entropy(x, torch.tensor([0]), torch.tensor([[2, 2]]), torch.tensor([True])).backward()
    assert x.grad[0, 1, 2, 2] < 0 < x.grad[0, 0, 2, 2]
    assert x.grad.abs().sum() == pytest.approx(x.grad[0, :, 2, 2].abs().sum().item())
    with pytest.raises(ValueError, match="2, h, w"):
        side_cross_entropy(torch.zeros(1, 3, 4, 4), b[:1], cells[:1], right[:1])
