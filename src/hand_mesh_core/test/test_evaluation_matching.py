"""Matching and detection counting on small examples worked out by hand."""

import numpy as np
import pytest

from hand_mesh_core.evaluation.matching import DetectionCounts, keypoint_cost, match_greedy, match_hungarian


def test_keypoint_cost_by_hand():
    gt = np.zeros((1, 21, 2))
    pred = np.zeros((2, 21, 2))
    pred[0, :, 0] = 10.0  # every keypoint 10 px off
    pred[1, 0, 0] = 21.0  # only the wrist off, by 21 px
    valid = np.ones((1, 21), bool)
    # with a 20 px hand: 10/20 = 0.5 ; (21/20) / 21 = 0.05
    np.testing.assert_allclose(keypoint_cost(pred, gt, valid, np.array([20.0])), [[0.5], [0.05]])
    valid[0, 0] = False  # ignoring the wrist makes the second prediction perfect
    np.testing.assert_allclose(keypoint_cost(pred, gt, valid, np.array([20.0]))[1], [0.0])


def test_hungarian_finds_more_pairs_than_greedy():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    # greedy takes (0, 0) = 0.1 first, then only (1, 1) = 0.9 is left, above the gate
    assert match_greedy(cost, 0.5) == [(0, 0)]
    # optimal: (0, 1) + (1, 0) = 0.35, two pairs within the gate
    assert match_hungarian(cost, 0.5) == [(0, 1), (1, 0)]
    assert match_hungarian(cost, 0.05) == []
    assert match_hungarian(np.zeros((0, 3)), 1.0) == []


def test_detection_counts():
    c = DetectionCounts()
    c.add(num_pred=2, num_gt=1, num_matched=1, all_hands_labelled=True)  # 1 TP, 1 FP
    c.add(num_pred=1, num_gt=2, num_matched=1, all_hands_labelled=False)  # 1 TP, 1 FN, FP not counted
    assert c.recall == pytest.approx(2 / 3)
    assert c.precision == pytest.approx(1 / 2)
    assert DetectionCounts().recall is None and DetectionCounts().precision is None
    with pytest.raises(ValueError):
        c.add(num_pred=1, num_gt=1, num_matched=2, all_hands_labelled=True)
