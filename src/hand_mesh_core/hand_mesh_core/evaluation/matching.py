"""Matching predicted hands to ground-truth hands, and detection recall / precision.

A prediction and a ground-truth hand are compared by a cost (lower is better):

* ``1 - IoU`` of their boxes (:func:`hand_mesh_core.boxes.box_iou`; PASCAL VOC / COCO detection matching);
* the mean keypoint distance normalised by the ground-truth hand's size
  (:func:`keypoint_cost`), which does not depend on how a dataset pads its boxes. It is
  the distance counterpart of COCO's object keypoint similarity matching.

Pairs are chosen one-to-one, either optimally (Hungarian algorithm, Kuhn 1955, via
``scipy.optimize.linear_sum_assignment``: the most pairs within the gate, then the least
total cost) or greedily (cheapest pair first, as COCO's evaluation does), and only pairs
whose cost is at most ``max_cost`` count. Matched ground truths are true positives,
unmatched ones false negatives, unmatched predictions false positives (counted only
where every hand of the image is labelled).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment


def keypoint_cost(pred_keypoints: np.ndarray, gt_keypoints: np.ndarray, gt_valid: np.ndarray, gt_size: np.ndarray) -> np.ndarray:
    """Mean normalised 2D keypoint distance ``[N, M]`` between N predictions and M ground truths.

    Args:
        pred_keypoints: ``[N, K, 2]`` pixels.
        gt_keypoints: ``[M, K, 2]`` pixels.
        gt_valid: bool ``[M, K]``: keypoints of each ground truth to compare (>= 1 each).
        gt_size: ``[M]`` positive normaliser per ground truth in pixels (box size).

    Returns:
        ``cost[i, j] = mean_k(|pred_i,k - gt_j,k| / gt_size_j)`` over gt_valid keypoints.
    """
    p = np.asarray(pred_keypoints, dtype=np.float64)
    g = np.asarray(gt_keypoints, dtype=np.float64)
    v = np.asarray(gt_valid, dtype=bool)
    s = np.asarray(gt_size, dtype=np.float64).reshape(-1)
    if p.size == 0 or g.size == 0:
        return np.zeros((len(p) if p.ndim == 3 else 0, len(g) if g.ndim == 3 else 0))
    if p.ndim != 3 or g.ndim != 3 or p.shape[1:] != g.shape[1:] or p.shape[2] != 2:
        raise ValueError(f"keypoints must be [N, K, 2] and [M, K, 2], got {p.shape} and {g.shape}")
    if v.shape != g.shape[:2] or s.shape != (len(g),):
        raise ValueError(f"gt_valid must be {g.shape[:2]} and gt_size ({len(g)},), got {v.shape} and {s.shape}")
    if (v.sum(axis=1) == 0).any():
        raise ValueError("every ground-truth hand needs at least one valid keypoint")
    if (s <= 0).any() or not np.isfinite(s).all():
        raise ValueError(f"gt_size must be positive, got {s}")
    dist = np.linalg.norm(p[:, None] - g[None], axis=-1) / s[None, :, None]  # [N, M, K]
    return (dist * v[None]).sum(axis=-1) / v.sum(axis=-1)[None]


def match_hungarian(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """One-to-one pairs ``(i, j)`` of rows and columns of ``cost [N, M]`` with
    ``cost <= max_cost``: the most such pairs, then the least total cost. Sorted by i."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be [N, M], got {c.shape}")
    if c.size == 0:
        return []
    feasible = np.isfinite(c) & (c <= max_cost)
    if not feasible.any():
        return []
    big = (np.abs(c[feasible]).sum() + 1.0) * (min(c.shape) + 1)
    rows, cols = linear_sum_assignment(np.where(feasible, c, big))
    return [(int(i), int(j)) for i, j in zip(rows, cols) if feasible[i, j]]


def match_greedy(cost: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """One-to-one pairs taken cheapest first while ``cost <= max_cost``. Sorted by i."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be [N, M], got {c.shape}")
    pairs: list[tuple[int, int]] = []
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in np.argsort(c, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, c.shape)
        if not c[i, j] <= max_cost:
            break
        if i in used_r or j in used_c:
            continue
        pairs.append((int(i), int(j)))
        used_r.add(int(i))
        used_c.add(int(j))
    return sorted(pairs)


@dataclasses.dataclass
class DetectionCounts:
    """Accumulated detection outcomes over images.

    Attributes:
        true_positives: matched ground-truth hands (all images).
        false_negatives: unmatched ground-truth hands (all images).
        labelled_true_positives: matched hands in images where every hand is labelled.
        false_positives: unmatched predictions in images where every hand is labelled
            (elsewhere an unmatched prediction may be an unlabelled real hand).
    """

    true_positives: int = 0
    false_negatives: int = 0
    labelled_true_positives: int = 0
    false_positives: int = 0

    def add(self, num_pred: int, num_gt: int, num_matched: int, all_hands_labelled: bool) -> None:
        """Record one image: ``num_matched`` pairs out of ``num_pred`` predictions and
        ``num_gt`` ground truths. Raises ``ValueError`` for impossible counts."""
        if not 0 <= num_matched <= min(num_pred, num_gt):
            raise ValueError(f"num_matched={num_matched} impossible with {num_pred} predictions, {num_gt} ground truths")
        self.true_positives += num_matched
        self.false_negatives += num_gt - num_matched
        if all_hands_labelled:
            self.labelled_true_positives += num_matched
            self.false_positives += num_pred - num_matched

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN) over all images; None without ground-truth hands."""
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else None

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP) over the fully labelled images; None when no prediction was
        made in such an image."""
        n = self.labelled_true_positives + self.false_positives
        return self.labelled_true_positives / n if n else None


__all__ = ["keypoint_cost", "match_hungarian", "match_greedy", "DetectionCounts"]
