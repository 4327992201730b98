"""Operating-threshold sweep: F1 worked out by hand on planted detections."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from hand_mesh_core.data.sample import HandLabel, Sample
from hand_mesh_core.evaluation.calibration import sweep_thresholds


def _hand_at(x: float, y: float) -> np.ndarray:
    """A 21-keypoint hand spread over a 40 px square at (x, y)."""
    rng = np.random.default_rng(int(x * 7 + y))
    return (np.array([x, y]) + rng.uniform(0, 40, (21, 2))).astype(np.float32)


class PlantedPredictor:
    """Returns, per image, the planted (keypoints, score) pairs as scored hands."""

    def __init__(self, planted: list[list[tuple[np.ndarray, float]]]) -> None:
        self.planted, self.calls = planted, 0

    def predict(self, image, K=None):
        hands = [SimpleNamespace(keypoints_2d=k, score=s, handedness="right") for k, s in self.planted[self.calls]]
        self.calls += 1
        return hands


def test_f1_chooses_the_threshold_that_drops_the_false_positives_and_keeps_the_hands():
    image = np.zeros((200, 200, 3), np.uint8)
    a, b = _hand_at(10, 10), _hand_at(120, 120)
    seen = np.ones(21, bool)
    samples = [Sample(hands=[HandLabel(keypoints_2d=k, valid=seen, visibility=seen)], image=image, all_hands_labelled=True)
               for k in (a, b)]
    planted = [[(a, 0.6), (_hand_at(120, 10), 0.3)],  # a true hand, a false one at 0.3
               [(b, 0.2), (_hand_at(10, 120), 0.1)]]  # a weak true hand, a false one at 0.1
    sweep = sweep_thresholds(PlantedPredictor(planted), samples, thresholds=[0.05, 0.15, 0.25, 0.5, 0.7])
    # 0.05: 2 of 2 found among 4 -> P 0.5, R 1, F1 2/3; 0.15: 2 of 3 -> P 2/3, R 1, F1 0.8;
    # 0.25: 1 of 2 -> P 0.5, R 0.5; 0.5: 1 of 1 -> P 1, R 0.5, F1 2/3; 0.7: nothing found
    np.testing.assert_allclose(sweep.recall, [1, 1, 0.5, 0.5, 0])
    np.testing.assert_allclose(sweep.precision[:4], [0.5, 2 / 3, 0.5, 1])
    np.testing.assert_allclose(sweep.f1[:4], [2 / 3, 0.8, 0.5, 2 / 3])
    assert sweep.best == 0.15
    assert "| 0.15 **chosen** |" in sweep.to_markdown()
    # labels not known to be complete: no precision, unless the caller vouches for them
    partial = [dataclasses.replace(s, all_hands_labelled=False) for s in samples]
    assert np.isnan(sweep_thresholds(PlantedPredictor(planted), partial, [0.15]).precision[0])
    vouched = sweep_thresholds(PlantedPredictor(planted), partial, [0.15], complete_labels=True)
    assert vouched.precision[0] == pytest.approx(2 / 3)


def test_bad_thresholds_and_unlabelled_samples_are_refused():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="thresholds"):
        sweep_thresholds(PlantedPredictor([[]]), [Sample(hands=[], image=image)], thresholds=[0.0, 0.5])
    with pytest.raises(ValueError, match="no labelled hand"):
        sweep_thresholds(PlantedPredictor([[]]), [Sample(hands=[], image=image)], thresholds=[0.5])
