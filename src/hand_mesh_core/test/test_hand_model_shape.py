"""The open model's shape space: each coefficient moves its documented measurement."""

from __future__ import annotations

import pytest
import torch

from hand_mesh_core.hand_model import SHAPE_COMPONENTS, SHAPE_NAMES, HandModel, shape_prior_loss
from hand_mesh_core.hand_model.shape_space import measure_hand, measurement_sets

STEP = 2.0  # coefficient value tested (two adult SDs)


@pytest.fixture(scope="module")
def model() -> HandModel:
    return HandModel("right", dtype=torch.float64)


def _measure(model: HandModel, betas: torch.Tensor) -> dict[str, torch.Tensor]:
    sets = measurement_sets(model.v_template, model.lbs_weights, model.j_template)
    out = model(betas=betas)
    return measure_hand(out.vertices, out.joints, out.keypoints, sets)


def test_each_coefficient_moves_its_own_measurement_by_its_sd(model):
    base = _measure(model, torch.zeros(1, 10, dtype=torch.float64))
    for k, comp in enumerate(SHAPE_COMPONENTS):
        betas = torch.zeros(2, 10, dtype=torch.float64)
        betas[0, k], betas[1, k] = STEP, -STEP
        m = _measure(model, betas)
        rel = (m[comp.name] / base[comp.name] - 1.0) / comp.relative_sd  # in SDs
        assert rel[0].item() == pytest.approx(STEP, rel=0.1), comp.name
        assert rel[1].item() == pytest.approx(-STEP, rel=0.1), comp.name


def test_other_measurements_move_only_weakly(model):
    base = _measure(model, torch.zeros(1, 10, dtype=torch.float64))
    for k, comp in enumerate(SHAPE_COMPONENTS[1:], start=1):
        betas = torch.zeros(1, 10, dtype=torch.float64)
        betas[0, k] = STEP
        m = _measure(model, betas)
        for other in SHAPE_COMPONENTS:
            if other.name == comp.name:
                continue
            sds = abs((m[other.name] / base[other.name] - 1.0).item()) / other.relative_sd
            # e.g. a longer palm makes the hand longer: at most 0.4 SD per SD
            assert sds < 0.4 * STEP, (comp.name, other.name, sds)


def test_size_is_a_uniform_scale_about_the_wrist(model):
    betas = torch.zeros(1, 10, dtype=torch.float64)
    betas[0, 0] = -5.0  # a child's hand
    rest, small = model(), model(betas=betas)
    factor = 1.0 - 5.0 * SHAPE_COMPONENTS[0].relative_sd
    wrist = rest.joints[0, 0]
    assert torch.allclose(small.vertices[0] - wrist, factor * (rest.vertices[0] - wrist), atol=2e-4)
    assert torch.allclose(small.joints[0, 0], wrist, atol=1e-6)
    length = (small.keypoints[0, 12] - small.keypoints[0, 0]).norm().item()
    assert 0.10 < length < 0.14  # about a 3-5 year old


def test_documented_ranges_give_valid_hands(model):
    for k, comp in enumerate(SHAPE_COMPONENTS):
        for value in comp.typical_range:
            betas = torch.zeros(1, 10, dtype=torch.float64)
            betas[0, k] = value
            out = model(betas=betas)
            tri = out.vertices[0][model.faces]
            assert torch.linalg.det(tri).sum().item() > 0  # still a closed, outward surface
    assert tuple(c.name for c in SHAPE_COMPONENTS) == SHAPE_NAMES == model.shape_names


def test_shape_prior_is_the_squared_norm():
    betas = torch.tensor([[1.0, -2.0] + [0.0] * 8, [0.0] * 10], requires_grad=True)
    loss = shape_prior_loss(betas)
    assert loss.tolist() == [5.0, 0.0]
    loss.sum().backward()
    assert betas.grad[0, :2].tolist() == [2.0, -4.0]
    with pytest.raises(ValueError):
        shape_prior_loss(torch.zeros(10))
