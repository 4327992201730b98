"""boxes: the IoU of box sets and the box around points, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hand_mesh_core.boxes import bbox_from_points, box_iou


def test_box_iou_by_hand():
    a = np.array([[0.0, 0, 2, 2]])
    b = np.array([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
    # overlap 1x1 = 1, union 4 + 4 - 1 = 7; identical -> 1; disjoint -> 0
    np.testing.assert_allclose(box_iou(a, b), [[1 / 7, 1.0, 0.0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)
    with pytest.raises(ValueError):
        box_iou(np.array([[2.0, 0, 0, 2]]), b)  # inverted box


def test_bbox_from_points_with_margin():
    box = bbox_from_points(np.array([[10.0, 20.0], [30.0, 60.0]]), margin=0.1)
    np.testing.assert_allclose(box, [6.0, 16.0, 34.0, 64.0])
    with pytest.raises(ValueError):
        bbox_from_points(np.zeros((0, 2)))
