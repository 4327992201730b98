"""Axis-aligned boxes ``(x0, y0, x1, y1)`` in pixels: the box around points and the IoU of
two sets of boxes.

At the bottom of the layering (it imports only numpy): results, tracking, tiling, the data
generators and the evaluation all use it. Coordinates are continuous, in pixels of the image
the points come from (u right, v down, the OpenCV convention of :mod:`hand_mesh_core.camera`),
``x0 <= x1`` and ``y0 <= y1``; a box's area is ``(x1 - x0) * (y1 - y0)`` (no +1).
"""

from __future__ import annotations

import numpy as np


def _boxes(b: np.ndarray, name: str) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4) if np.size(b) else np.zeros((0, 4))
    if not np.isfinite(b).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])).any():
        raise ValueError(f"{name} must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1")
    return b


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union ``[N, M]`` of boxes ``[N, 4]`` and ``[M, 4]`` (x0, y0, x1, y1 pixels).

    Continuous coordinates (area = width x height, no +1). Two empty boxes have IoU 0.
    Returns float64. Raises ``ValueError`` for inverted or non-finite boxes.
    """
    a, b = _boxes(boxes_a, "boxes_a"), _boxes(boxes_b, "boxes_b")
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def bbox_from_points(points_2d: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Axis-aligned box ``(x0, y0, x1, y1)`` float32 around ``[N, 2]`` pixel points.

    ``margin`` grows each side by that fraction of the box's larger side. Raises
    ``ValueError`` for an empty or non-finite input.
    """
    pts = np.asarray(points_2d, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError("bbox_from_points needs at least one finite point")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = margin * float(max(hi - lo))
    return np.array([lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad], dtype=np.float32)


__all__ = ["box_iou", "bbox_from_points"]
