"""The accuracy benchmark behind ``hand-mesh eval``: every backend on every labelled subset.

For each image of a subset the backend's :meth:`predict` runs on the image (with the
subset's ``K`` where it has one, else the library's default intrinsics), and its hands
are scored against the labels:

* Matching: predictions and ground-truth hands are paired one-to-one by the Hungarian
  algorithm on the mean 2D keypoint distance normalised by the ground-truth hand size
  (:func:`~hand_mesh_core.evaluation.matching.keypoint_cost`), accepting a pair when that
  mean is below :data:`MATCH_MAX_COST` (half the hand size). Keypoints rather than boxes,
  because datasets pad their boxes differently from the backends.
* Detection: recall = matched / labelled hands; precision = matched / predicted hands,
  only over images where every hand is labelled (``Sample.all_hands_labelled``).
* 2D accuracy, over matched hands and their labelled keypoints (pooled): the error
  divided by the ground-truth hand size ``max(box width, box height)`` (the annotated
  box, else the tight box of the labelled keypoints: :meth:`HandLabel.box_size`), its
  mean ("norm. 2D error") and PCK@0.2 (fraction below 0.2, mmpose's hand PCK).
* Handedness accuracy over matched hands whose side is labelled.
* 3D, where the subset has 3D keypoints and ``K`` (RHD, the ge_realworld validation
  subset), per matched hand: root-relative
  MPJPE (wrist subtracted from both) and PA-MPJPE (Umeyama similarity) in millimetres,
  and the absolute wrist depth error ``|z_pred - z_gt| / z_gt`` in percent.
* Latency: median of ``Prediction.timings["total"]`` (informative only; the speed
  benchmarks measure timing properly).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hand_mesh_core.data.readers.mmpose_coco import (
    ANNOTATED_SUBSETS,
    VALIDATION_SUBSETS,
    read_annotated_subset,
    read_validation_subset,
)
from hand_mesh_core.data.sample import HandLabel, Sample
from hand_mesh_core.evaluation.matching import DetectionCounts, keypoint_cost, match_hungarian
from hand_mesh_core.evaluation.metrics import mpjpe, normalized_errors_2d, pa_mpjpe, root_relative

#: Largest mean normalised keypoint distance of an accepted prediction/ground-truth pair.
MATCH_MAX_COST = 0.5
#: PCK threshold, as a fraction of the ground-truth hand size.
PCK_THRESHOLD = 0.2


@dataclasses.dataclass
class SubsetScores:
    """Running scores of one backend on one subset (see the module docstring)."""

    images: int = 0
    hands: int = 0
    detection: DetectionCounts = dataclasses.field(default_factory=DetectionCounts)
    normalized_errors: list[float] = dataclasses.field(default_factory=list)
    handedness_correct: int = 0
    handedness_total: int = 0
    rr_mpjpe_mm: list[float] = dataclasses.field(default_factory=list)
    pa_mpjpe_mm: list[float] = dataclasses.field(default_factory=list)
    depth_error_pct: list[float] = dataclasses.field(default_factory=list)
    latency_ms: list[float] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        """Metric name -> value (None where it does not apply to the subset)."""
        errs = np.asarray(self.normalized_errors)

        def mean(v: list[float]) -> float | None:
            return float(np.mean(v)) if v else None

        return {
            "images": self.images,
            "hands": self.hands,
            "recall": self.detection.recall,
            "precision": self.detection.precision,
            "pck@0.2": float((errs < PCK_THRESHOLD).mean()) if errs.size else None,
            "norm_2d_error": float(errs.mean()) if errs.size else None,
            "handedness_accuracy": self.handedness_correct / self.handedness_total if self.handedness_total else None,
            "rr_mpjpe_mm": mean(self.rr_mpjpe_mm),
            "pa_mpjpe_mm": mean(self.pa_mpjpe_mm),
            "depth_error_pct": mean(self.depth_error_pct),
            "median_ms": float(np.median(self.latency_ms)) if self.latency_ms else None,
        }


def score_image(sample: Sample, predicted: Sequence[Any], scores: SubsetScores) -> list[tuple[int, int]]:
    """Match the ``predicted`` hands of one image to ``sample``'s labels and add to ``scores``.

    Args:
        sample: the labels (hands without a valid keypoint are ignored).
        predicted: hands with ``keypoints_2d [21, 2]`` px, ``handedness`` and, for 3D
            scores, ``keypoints_3d [21, 3]`` m in the optical frame of ``sample.K``
            (:class:`hand_mesh_core.results.HandResult`).
        scores: accumulator, updated in place.

    Returns:
        The accepted pairs ``(prediction index, label index)``.
    """
    labels: list[HandLabel] = [h for h in sample.hands if h.valid.any()]
    scores.images += 1
    scores.hands += len(labels)
    pairs: list[tuple[int, int]] = []
    if predicted and labels:
        sizes = np.array([h.box_size() for h in labels])
        cost = keypoint_cost(
            np.stack([np.asarray(p.keypoints_2d, np.float64) for p in predicted]),
            np.stack([h.keypoints_2d for h in labels]), np.stack([h.valid for h in labels]), sizes,
        )
        pairs = match_hungarian(cost, MATCH_MAX_COST)
    scores.detection.add(len(predicted), len(labels), len(pairs), sample.all_hands_labelled)
    for i, j in pairs:
        pred, gt = predicted[i], labels[j]
        err = normalized_errors_2d(np.asarray(pred.keypoints_2d)[gt.valid], gt.keypoints_2d[gt.valid], gt.box_size())
        scores.normalized_errors.extend(err.tolist())
        if gt.handedness is not None:
            scores.handedness_total += 1
            scores.handedness_correct += int(pred.handedness == gt.handedness)
        if gt.keypoints_3d is not None and sample.K is not None and gt.valid.all():
            p3 = np.asarray(pred.keypoints_3d, np.float64)
            g3 = gt.keypoints_3d.astype(np.float64)
            scores.rr_mpjpe_mm.append(1000.0 * mpjpe(root_relative(p3), root_relative(g3)))
            scores.pa_mpjpe_mm.append(1000.0 * pa_mpjpe(p3, g3))
            scores.depth_error_pct.append(100.0 * abs(p3[0, 2] - g3[0, 2]) / g3[0, 2])
    return pairs


def evaluate_predictor(predictor: Any, samples: Iterable[Sample]) -> SubsetScores:
    """Run ``predictor.predict(image, K=sample.K)`` on every sample and score it."""
    scores = SubsetScores()
    for sample in samples:
        prediction = predictor.predict(sample.load_image(), K=sample.K)
        if "total" in getattr(prediction, "timings", {}):
            scores.latency_ms.append(prediction.timings["total"])
        score_image(sample, list(prediction), scores)
    return scores


@dataclasses.dataclass
class BenchmarkResult:
    """Scores per backend and subset, plus the backends that could not be created.

    Attributes:
        data_root: the folder the subsets were read from.
        subsets: subset names in table order.
        scores: ``{backend: {subset: summary dict}}`` (:meth:`SubsetScores.summary`).
        unavailable: ``{backend: reason}``.
    """

    data_root: str
    subsets: list[str]
    scores: dict[str, dict[str, dict[str, Any]]]
    unavailable: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the metric definitions."""
        return {
            "data_root": self.data_root,
            "subsets": self.subsets,
            "definitions": {
                "matching": f"Hungarian on mean keypoint distance / GT hand size, accepted below {MATCH_MAX_COST}",
                "gt_hand_size": "max(width, height) of the annotated box (else of the labelled keypoints), pixels",
                "recall": "matched / labelled hands",
                "precision": "matched / predicted hands, only images where every hand is labelled",
                "pck@0.2": f"matched hands' labelled keypoints with error / hand size < {PCK_THRESHOLD}",
                "norm_2d_error": "mean keypoint error / hand size over matched hands",
                "handedness_accuracy": "matched hands with a labelled side",
                "rr_mpjpe_mm": "root(wrist)-relative MPJPE, mm, matched hands with 3D labels",
                "pa_mpjpe_mm": "MPJPE after Umeyama similarity alignment, mm",
                "depth_error_pct": "|wrist z predicted - true| / true z, percent",
                "median_ms": "median Prediction.timings['total'] per image (informative)",
            },
            "scores": self.scores,
            "unavailable": self.unavailable,
        }

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    def to_markdown(self) -> str:
        """Markdown table: one row per (subset, backend), backends side by side per subset."""
        cols = [
            ("images", "images", "{:d}"), ("hands", "hands", "{:d}"), ("recall", "recall", "{:.2f}"),
            ("precision", "precision", "{:.2f}"), ("pck@0.2", "PCK@0.2", "{:.3f}"),
            ("norm_2d_error", "norm. 2D err", "{:.3f}"), ("handedness_accuracy", "handedness", "{:.2f}"),
            ("rr_mpjpe_mm", "RR-MPJPE mm", "{:.1f}"), ("pa_mpjpe_mm", "PA-MPJPE mm", "{:.1f}"),
            ("depth_error_pct", "depth err %", "{:.1f}"), ("median_ms", "ms/image", "{:.0f}"),
        ]
        lines = ["| subset | backend | " + " | ".join(c[1] for c in cols) + " |",
                 "|---|---|" + "---:|" * len(cols)]
        for subset in self.subsets:
            for backend, per_subset in self.scores.items():
                s = per_subset.get(subset)
                if s is None:
                    continue
                cells = ["-" if s[k] is None or (isinstance(s[k], float) and math.isnan(s[k])) else fmt.format(s[k])
                         for k, _, fmt in cols]
                lines.append(f"| {subset} | {backend} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(
            f"Matching: Hungarian on mean keypoint distance / GT hand size < {MATCH_MAX_COST}. "
            "Hand size = max side of the GT box. PCK@0.2 and norm. 2D err over matched hands; "
            "precision only where every hand is labelled; 3D metrics on subsets with 3D labels and K."
        )
        for backend, reason in self.unavailable.items():
            lines.append(f"\n`{backend}`: unavailable ({reason})")
        return "\n".join(lines) + "\n"


def available_subsets(data_root: str | Path | None, validation_root: str | Path | None = None) -> list[str]:
    """Names of the known subsets present: annotated ones under ``data_root``, then the
    validation ones (:data:`VALIDATION_SUBSETS`) under ``validation_root``; either root may
    be None."""
    names = []
    if data_root is not None:
        names += [n for n in ANNOTATED_SUBSETS if (Path(data_root) / n / f"test_{n}.json").is_file()]
    if validation_root is not None:
        names += [n for n, o in VALIDATION_SUBSETS.items() if (Path(validation_root) / n / o["json"]).is_file()]
    return names


def read_subset(name: str, data_root: str | Path | None, validation_root: str | Path | None = None):
    """Reader of subset ``name``: a validation subset from ``validation_root``, else an
    annotated one from ``data_root``. Raises ``ValueError`` for an unknown name or a
    missing root and ``FileNotFoundError`` for missing files."""
    if name in VALIDATION_SUBSETS:
        if validation_root is None:
            raise ValueError(f"{name} is a validation subset: give the validation folder")
        return read_validation_subset(validation_root, name)
    if data_root is None:
        raise ValueError(f"{name} is an annotated subset: give the annotated folder")
    return read_annotated_subset(data_root, name)


def run_benchmark(
    backends: Sequence[str],
    data_root: str | Path | None,
    subsets: Sequence[str] | None = None,
    predictor_options: dict[str, Any] | None = None,
    backend_options: dict[str, dict[str, Any]] | None = None,
    validation_root: str | Path | None = None,
) -> BenchmarkResult:
    """Evaluate each backend on each subset of an ``annotated/`` and a ``validation/`` folder.

    Args:
        backends: names for :func:`hand_mesh_core.create_predictor`.
        data_root: folder holding ``<subset>/test_<subset>.json`` (the shared
            ``annotated/`` layout, :data:`~hand_mesh_core.data.readers.mmpose_coco.ANNOTATED_SUBSETS`),
            or None.
        subsets: names to evaluate (default: every known subset present in the folders).
        predictor_options: keyword options for every ``create_predictor`` call.
        backend_options: extra keyword options per backend name (e.g.
            ``{"single_stage": {"weights": path}}``), over ``predictor_options``.
        validation_root: the shared ``validation/`` folder
            (:data:`~hand_mesh_core.data.readers.mmpose_coco.VALIDATION_SUBSETS`), or None.

    A backend whose creation raises is reported in ``unavailable`` with the error, not
    raised (a backend may lack its optional packages), except for a model file that cannot
    be used: that raises :class:`~hand_mesh_core.model_files.ModelFileError` (the CLI's one
    line naming the file, exit status 2), since a corrupt file given by the user is an
    error, not a missing feature. Raises ``FileNotFoundError`` when a given folder is missing
    or the folders hold none of the subsets, ``ValueError`` for an unknown subset name.
    """
    from hand_mesh_core.backends import create_predictor
    from hand_mesh_core.model_files import ModelFileError

    for root in (data_root, validation_root):
        if root is not None and not Path(root).is_dir():
            raise FileNotFoundError(f"data folder not found: {root}")
    if subsets is None:
        subsets = available_subsets(data_root, validation_root)
        if not subsets:
            known = ", ".join([*ANNOTATED_SUBSETS, *VALIDATION_SUBSETS])
            raise FileNotFoundError(f"no known subset ({known}) in {data_root} or {validation_root}")
    readers = {name: read_subset(name, data_root, validation_root) for name in subsets}
    scores: dict[str, dict[str, dict[str, Any]]] = {}
    unavailable: dict[str, str] = {}
    for backend in backends:
        try:
            options = {**(predictor_options or {}), **((backend_options or {}).get(backend) or {})}
            predictor = create_predictor(backend, **options)
        except ModelFileError:
            raise
        except Exception as e:  # reported, not raised: a backend may lack weights or packages
            unavailable[backend] = f"{type(e).__name__}: {e}"
            continue
        scores[backend] = {}
        for name, reader in readers.items():
            predictor.reset()
            scores[backend][name] = evaluate_predictor(predictor, reader).summary()
    roots = " + ".join(str(r) for r in (data_root, validation_root) if r is not None)
    return BenchmarkResult(roots, list(subsets), scores, unavailable)


__all__ = [
    "MATCH_MAX_COST",
    "PCK_THRESHOLD",
    "SubsetScores",
    "score_image",
    "evaluate_predictor",
    "BenchmarkResult",
    "run_benchmark",
    "available_subsets",
    "read_subset",
]
