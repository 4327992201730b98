"""Choosing a single-stage network's operating (detection) threshold from labelled images.

A briefly trained network's centre-heatmap peaks sit lower than a converged one's, so the
shared ``score_threshold`` default (0.5) is not its best operating point. This module runs
the predictor once per image with no threshold, then sweeps candidate thresholds over the
scored detections: at each, hands below it are dropped and the rest are matched to the
labels exactly as ``hand-mesh eval`` does (:func:`~hand_mesh_core.evaluation.benchmark.score_image`).
The chosen threshold maximises F1 = 2PR / (P + R) of detection (ties: the higher
threshold). :func:`hand_mesh_core.training.weights_export.fold_operating_threshold` then moves it
to 0.5 inside the weights.

Pseudo-labels (the two_stage teacher's) miss some hands, so precision measured on them is
a lower bound, which pushes the choice towards higher thresholds; the table says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hand_mesh_core.data.sample import Sample
from hand_mesh_core.evaluation.benchmark import SubsetScores, score_image

#: Thresholds tried by default.
DEFAULT_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


@dataclasses.dataclass
class ThresholdSweep:
    """Detection scores of one predictor at each candidate threshold.

    Attributes:
        thresholds: the candidates, ascending.
        recall, precision, f1, pck: per threshold (precision counts only images whose hands
            are all labelled; ``nan`` where undefined). ``pck``: PCK@0.2 of matched hands.
        best: the threshold with the highest F1 (ties: the higher threshold).
    """

    thresholds: list[float]
    recall: list[float]
    precision: list[float]
    f1: list[float]
    pck: list[float]
    best: float

    def to_markdown(self) -> str:
        """Markdown table, the chosen row marked."""
        rows = ["| threshold | recall | precision | F1 | PCK@0.2 |", "|---:|---:|---:|---:|---:|"]
        for t, r, p, f, k in zip(self.thresholds, self.recall, self.precision, self.f1, self.pck):
            mark = " **chosen**" if t == self.best else ""
            rows.append(f"| {t:.2f}{mark} | {r:.3f} | {p:.3f} | {f:.3f} | {k:.3f} |")
        return "\n".join(rows) + "\n"


def sweep_thresholds(predictor: Any, samples: Iterable[Sample],
                     thresholds: Sequence[float] = DEFAULT_THRESHOLDS, complete_labels: bool = False) -> ThresholdSweep:
    """Score ``predictor``'s detections on ``samples`` at every threshold in ``thresholds``.

    Args:
        predictor: a single-stage predictor created with ``score_threshold=0`` (every peak
            comes back, scored) and a ``max_hands`` above the labelled hand counts.
        samples: labelled images (:class:`~hand_mesh_core.data.sample.Sample`), e.g. a
            :class:`~hand_mesh_core.data.readers.pseudo_labels.PseudoLabelReader`.
        thresholds: candidates in (0, 1).
        complete_labels: take every image's labels as all its hands (precision over every
            image). For pseudo-labels, whose datasets do not claim completeness: the
            teacher's hands are then the reference, and a hand it missed counts against
            the network.

    Raises ``ValueError`` for an empty or out-of-range ``thresholds``, or when the samples
    hold no labelled hand.
    """
    thresholds = sorted(float(t) for t in thresholds)
    if not thresholds or thresholds[0] <= 0.0 or thresholds[-1] >= 1.0:
        raise ValueError(f"thresholds must be a non-empty list in (0, 1), got {thresholds}")
    per_image = [(dataclasses.replace(sample, all_hands_labelled=True) if complete_labels else sample,
                  list(predictor.predict(sample.load_image(), K=sample.K))) for sample in samples]
    recall, precision, f1, pck = [], [], [], []
    for t in thresholds:
        scores = SubsetScores()
        for sample, hands in per_image:
            score_image(sample, [h for h in hands if h.score >= t], scores)
        if scores.hands == 0:
            raise ValueError("the samples hold no labelled hand")
        s = scores.summary()
        r = s["recall"]
        p = s["precision"] if s["precision"] is not None else float("nan")
        recall.append(r)
        precision.append(p)
        f1.append(2 * p * r / (p + r) if (p + r) > 0 else 0.0)
        pck.append(s["pck@0.2"] if s["pck@0.2"] is not None else float("nan"))
    f1_arr = np.nan_to_num(np.asarray(f1), nan=-1.0)
    best = thresholds[int(np.flatnonzero(f1_arr == f1_arr.max())[-1])]
    return ThresholdSweep(thresholds, recall, precision, f1, pck, best)


__all__ = ["DEFAULT_THRESHOLDS", "ThresholdSweep", "sweep_thresholds"]
