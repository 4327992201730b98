"""The shared hand tracker: ids over synthetic streams (order, crossing hands, occlusion,
patience, gating, handedness flips) and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from hand_mesh_core.tracking import HandTracker, TrackerSettings

DT = 1.0 / 30.0
#: Keypoints of a hand relative to its wrist, in hand sizes (wrist first, fingers upwards).
_SHAPE = np.concatenate([[[0.0, 0.0]], np.random.default_rng(0).uniform([-0.5, -1.0], [0.5, -0.2], (20, 2))])


def _hand(wrist, size: float = 80.0) -> np.ndarray:
    """``[21, 2]`` keypoints of a hand whose wrist is at ``wrist`` (pixels)."""
    return np.asarray(wrist, dtype=np.float64) + size * _SHAPE


def _frame(*wrists) -> np.ndarray:
    return np.stack([_hand(w) for w in wrists]) if wrists else np.zeros((0, 21, 2))


def test_ids_follow_hands_in_any_order_expire_and_are_never_reused():
    tracker = HandTracker(TrackerSettings(max_missed=1))
    assert tracker.update(["right", "left"], _frame((100, 300), (400, 300)), 0.0) == [1, 2]
    # the same hands, listed the other way round and moved a little
    assert tracker.update(["left", "right"], _frame((410, 305), (110, 305)), DT) == [2, 1]
    assert tracker.update([], _frame(), 2 * DT) == [] and tracker.track_ids == {1, 2}  # missed once: kept
    tracker.update([], _frame(), 3 * DT)
    assert tracker.tracks == []  # missed twice > max_missed
    assert tracker.update(["right"], _frame((110, 305)), 4 * DT) == [3]  # not 1 again
    tracker.reset()
    assert tracker.update(["right"], _frame((110, 305)), 0.0) == [1]  # a new stream


def test_same_side_hands_that_cross_keep_their_ids():
    # two right hands (two people) sweeping past each other at 60 px per frame, 30 px apart
    # vertically; hand size 80 px
    tracker = HandTracker()
    a = [(100.0 + 60 * k, 300.0) for k in range(9)]
    b = [(520.0 - 60 * k, 330.0) for k in range(9)]
    # nearest previous wrist would swap them at frame 4: a's wrist is closer to b's old one
    assert np.hypot(*np.subtract(a[4], b[3])) < np.hypot(*np.subtract(a[4], a[3]))
    for k in range(9):
        ids = tracker.update(["right", "right"], _frame(a[k], b[k]), k * DT)
        assert ids == [1, 2], (k, ids)


def test_left_and_right_hands_crossing_keep_their_ids_when_one_is_hidden_at_the_crossing():
    tracker = HandTracker()
    for k in range(10):
        right, left = (150.0 + 40 * k, 300.0), (510.0 - 40 * k, 310.0)
        if k in (4, 5):  # the left hand is behind the right one for two frames
            ids = tracker.update(["right"], _frame(right), k * DT)
            assert ids == [2], (k, ids)
        else:
            ids = tracker.update(["left", "right"], _frame(left, right), k * DT)
            assert ids == [1, 2], (k, ids)


def test_a_handedness_flip_keeps_the_id_and_the_tracks_side():
    tracker = HandTracker()
    for k in range(5):
        assert tracker.update(["right"], _frame((300, 300)), k * DT, [0.95]) == [1]
    assert tracker.side(1)[0] == "right"
    # one uncertain "left" report of the same hand: same id, the track stays right
    assert tracker.update(["left"], _frame((302, 300)), 5 * DT, [0.6]) == [1]
    side, confidence = tracker.side(1)
    assert side == "right" and confidence > 0.99
    # consistent confident reports win within a few frames (evidence saturates)
    sides = []
    for k in range(6, 12):
        tracker.update(["left"], _frame((302, 300)), k * DT, [0.95])
        sides.append(tracker.side(1)[0])
    assert sides[-1] == "left" and sides.index("left") <= 4
    # side by side, the handedness still decides which track a hand joins
    tracker = HandTracker()
    tracker.update(["left", "right"], _frame((300, 300), (340, 300)), 0.0)
    assert tracker.update(["right", "left"], _frame((330, 300), (310, 300)), DT) == [2, 1]


def test_a_hand_back_after_the_patience_gets_a_new_id():
    tracker = HandTracker(TrackerSettings(max_missed=3))
    assert tracker.update(["right"], _frame((200, 200)), 0.0) == [1]
    for k in range(1, 4):  # 3 frames without it: still within the patience
        tracker.update([], _frame(), k * DT)
    assert tracker.update(["right"], _frame((205, 200)), 4 * DT) == [1]
    assert tracker.update(["right"], _frame((206, 200)), 3.5 * DT) == [1]  # out of order: taken as 4 * DT
    for k in range(5, 9):  # 4 frames without it: gone
        tracker.update([], _frame(), k * DT)
    assert tracker.update(["right"], _frame((205, 200)), 9 * DT) == [2]


def test_a_jump_beyond_the_gate_is_a_new_hand():
    tracker = HandTracker()  # gate: 1.5 hand sizes (80 px) from the predicted wrist
    tracker.update(["right"], _frame((100, 300)), 0.0)
    assert tracker.update(["right"], _frame((204, 300)), DT) == [1]  # 1.3 sizes: the same hand
    # the track now expects 52 px more (half the last step: velocity averaging); 2.35 sizes beyond
    assert tracker.update(["right"], _frame((444, 300)), 2 * DT) == [2]
    assert tracker.track_ids == {1, 2}  # the old track waits out its patience


def test_cost_matrix_and_bad_input():
    tracker = HandTracker()
    tracker.update(["right"], _frame((100, 100)), 0.0)
    cost = tracker.cost_matrix(["right", "left", "right"], _frame((100, 100), (100, 100), (900, 100)), DT)
    assert cost.shape == (3, 1)
    assert cost[0, 0] == pytest.approx(0.0) and cost[1, 0] == pytest.approx(0.5) and np.isinf(cost[2, 0])
    with pytest.raises(ValueError, match="21, 2"):
        tracker.update(["right"], np.zeros((2, 21, 2)), DT)
    with pytest.raises(ValueError, match="sides"):
        tracker.update(["middle"], _frame((1, 1)), DT)
    with pytest.raises(ValueError, match="NaN"):
        tracker.update(["right"], np.full((1, 21, 2), np.nan), DT)
    with pytest.raises(ValueError, match="side_scores"):
        tracker.update(["right"], _frame((1, 1)), DT, [1.5])
    with pytest.raises(ValueError, match="finite"):
        tracker.update(["right"], _frame((1, 1)), np.nan)
    with pytest.raises(KeyError):
        tracker.side(99)
    for bad in ({"max_missed": -1}, {"max_distance": 0.0}, {"side_cost": -1.0}, {"velocity_weight": 0.0},
                {"max_evidence": 0.0}):
        with pytest.raises(ValueError):
            TrackerSettings(**bad)
