"""The shipped single_stage weights on real labelled images: a regression guard for the
weights file, its folded operating threshold, the decoding and the hand model together.

Bounds sit below the figures in assets/weights/MODEL_CARD.md (FreiHAND subset, the weights of
2026-12-06 with refinement: recall 1.00, PCK@0.2 0.768, handedness 1.00), with a margin of at
least one hand.
"""

import pytest

from hand_mesh_core.single_stage.backend import DEFAULT_WEIGHTS
from hand_mesh_core.training.weights_export import read_provenance

pytestmark = pytest.mark.skipif(not DEFAULT_WEIGHTS.is_file(), reason=f"no shipped weights at {DEFAULT_WEIGHTS}")


def test_shipped_weights_carry_their_provenance_and_calibration():
    facts = read_provenance(DEFAULT_WEIGHTS)
    assert facts["global_step"] > 1000 and 0 < facts["operating_threshold_folded"] < 1
    assert DEFAULT_WEIGHTS.stat().st_size < 20e6  # fp16, compact
    assert (DEFAULT_WEIGHTS.parent / "MODEL_CARD.md").is_file()


def test_shipped_weights_find_the_freihand_right_hands(shared_data):
    from hand_mesh_core.evaluation.benchmark import run_benchmark

    result = run_benchmark(["single_stage"], shared_data / "annotated", ["freihand"], {"device": "cpu"})
    assert not result.unavailable, result.unavailable
    s = result.scores["single_stage"]["freihand"]
    assert s["recall"] >= 0.75 and s["precision"] >= 0.75
    assert s["pck@0.2"] >= 0.45 and s["handedness_accuracy"] >= 0.85


def _acr_magic_hands(shared_data):
    from hand_mesh_core.backends import create_predictor
    from hand_mesh_core.media import load_rgb

    image = load_rgb(shared_data / "images" / "acr_magic.jpg")
    return image, create_predictor("single_stage", device="cpu").predict(image)


def test_shipped_weights_find_the_extended_hand_in_a_real_photo(shared_data):
    image, hands = _acr_magic_hands(shared_data)
    assert len(hands) == 1
    x0, y0, x1, y1 = hands[0].bbox
    h, w = image.shape[:2]
    assert 0.5 * w < (x0 + x1) / 2 < 0.9 * w and 0.1 * h < (y0 + y1) / 2 < 0.5 * h  # the hand, right of centre
    assert 0.2 < hands[0].transl[2] < 2.0  # metres in front of the camera


@pytest.mark.xfail(strict=True, reason="known failure (MODEL_CARD): the shipped weights call this left hand right")
def test_shipped_weights_get_the_side_of_the_extended_hand(shared_data):
    # a LEFT hand: its palm faces the camera, thumb on top, fingers pointing right (the
    # two_stage teacher agrees, 1.00); strict, so that weights which get it right say so
    _, hands = _acr_magic_hands(shared_data)
    assert len(hands) == 1 and hands[0].handedness == "left"
