"""Accuracy and timing of the two-stage pipeline (MediaPipe landmarks + hand-model fit).

Run: ``python -m hand_mesh_core.bench.two_stage_eval --out output/bench/two_stage``.
Prints two Markdown tables and writes them (``two_stage_eval.md``) with the raw numbers
(``two_stage_eval.json``) to ``--out``.

**Accuracy** over the labelled subsets of ``../shared/data/annotated`` (scoring and
matching of :mod:`hand_mesh_core.evaluation.benchmark`, so the figures compare with
``hand-mesh eval``), two rows per subset from the same MediaPipe run:

* ``mediapipe``: MediaPipe's raw 2D landmarks; for 3D, its metric world landmarks placed
  in the camera by the closed-form least-squares translation (the fit's starting point);
* ``fitted``: the fitted hand model's keypoints (3D) and their projection through ``K`` (2D).

**Timing** on real photos (``images/``, the annotated images and a fixed set of
multi-person photos of ``pool/``): each image runs ``--repeats`` times in IMAGE mode; per
image the median of MediaPipe's and the fit's milliseconds is kept; the table gives the
median over the images with 1, 2 and 3+ detected hands, and the fit's cost per hand.
"""

from __future__ import annotations

import dataclasses
import os
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import typer

from hand_mesh_core.bench.report import cpu_name, markdown_table, write_report

#: Folders of ``pool/`` holding photos with several people or hands (timing of 3+ hands).
POOL_FOLDERS = ("handtrack.js", "yolo-hand-detection", "hand4whole", "openpose", "hagrid", "how2sign", "pixie")


def _located_world(landmarks, K: np.ndarray, fitter) -> np.ndarray:
    """MediaPipe's world landmarks placed in the camera: the fit's closed-form start (``[21, 3]``)."""
    from hand_mesh_core.two_stage.initialisation import solve_translation

    w = fitter.camera_world(landmarks.keypoints_2d, landmarks.world, K)
    return w + solve_translation(w, landmarks.keypoints_2d, K)


def accuracy(predictor, data_root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{subset: {"mediapipe": summary, "fitted": summary, "fit": {...}}}`` (see module doc)."""
    from hand_mesh_core.camera import intrinsics_from_fov
    from hand_mesh_core.data.readers.mmpose_coco import ANNOTATED_SUBSETS, read_annotated_subset
    from hand_mesh_core.evaluation.benchmark import SubsetScores, score_image

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in ANNOTATED_SUBSETS:
        if not (data_root / name / f"test_{name}.json").is_file():
            continue
        raw, fitted = SubsetScores(), SubsetScores()
        iterations, reproj = [], []
        for sample in read_annotated_subset(data_root, name):
            image = sample.load_image()
            K = sample.K if sample.K is not None else intrinsics_from_fov(image.shape[1], image.shape[0])
            predictor.reset()
            stages = predictor.run_stages(image, K)
            raw_hands = [
                types.SimpleNamespace(keypoints_2d=lm.keypoints_2d, handedness=lm.handedness,
                                      keypoints_3d=_located_world(lm, K, predictor.fitter))
                for lm in stages.landmarks
            ]
            fit = stages.fit
            fit_hands = [
                types.SimpleNamespace(keypoints_2d=fit.keypoints_2d[n], handedness=lm.handedness,
                                      keypoints_3d=fit.keypoints_3d[n])
                for n, lm in enumerate(stages.landmarks)
            ]
            score_image(sample, raw_hands, raw)
            score_image(sample, fit_hands, fitted)
            iterations.extend(fit.iterations.tolist())
            reproj.extend(fit.reprojection_px.tolist())
        out[name] = {
            "mediapipe": raw.summary(),
            "fitted": fitted.summary(),
            "fit": {
                "median_iterations": float(np.median(iterations)) if iterations else None,
                "mean_reprojection_px": float(np.mean(reproj)) if reproj else None,
            },
        }
    return out


def timing_images(shared: Path, max_pool: int) -> list[Path]:
    """Real photos for the timing table: ``images/``, annotated images, then ``pool/`` photos."""
    from hand_mesh_core.media import IMAGE_SUFFIXES

    def images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []

    paths = images(shared / "images") + images(shared / "annotated")
    pool = [p for f in POOL_FOLDERS for p in images(shared / "pool" / f)]
    return paths + pool[:max_pool]


def timing(predictor, paths: list[Path], repeats: int) -> dict[str, Any]:
    """Median milliseconds per image for MediaPipe and the fit, grouped by detected hands.

    Per image and run: MediaPipe's wall time, the fit's wall time and the fit's CPU time
    in its own thread (``time.thread_time``; the fit is single-threaded, so this is close
    to its wall time on an idle CPU and shows how much of the wall time other processes
    took).
    """
    from hand_mesh_core.camera import intrinsics_from_fov
    from hand_mesh_core.media import load_rgb

    rows: list[dict[str, Any]] = []
    for path in paths:
        image = load_rgb(path)
        if max(image.shape[:2]) > predictor.max_image_side:
            continue  # timing at the native size only (predict() would downscale first)
        K = intrinsics_from_fov(image.shape[1], image.shape[0])
        lm_ms, fit_ms, fit_cpu_ms, iters, hands = [], [], [], [], []
        for run in range(repeats + 1):  # run 0 warms up
            t0 = time.perf_counter()
            found = predictor.landmarker.detect(image)
            t1, c1 = time.perf_counter(), time.thread_time()
            fit = predictor.fitter.fit([h.handedness for h in found], np.array([h.keypoints_2d for h in found]),
                                       np.array([h.world for h in found]), K)
            t2, c2 = time.perf_counter(), time.thread_time()
            if run:
                lm_ms.append((t1 - t0) * 1e3)
                fit_ms.append((t2 - t1) * 1e3)
                fit_cpu_ms.append((c2 - c1) * 1e3)
                iters.extend(fit.iterations.tolist())
                hands.append(len(found))
        rows.append({"image": str(path), "hands": int(np.median(hands)), "landmarks_ms": float(np.median(lm_ms)),
                     "fitting_ms": float(np.median(fit_ms)), "fitting_cpu_ms": float(np.median(fit_cpu_ms)),
                     "iterations": iters})
    groups: dict[str, Any] = {}
    for label, test in (("1", lambda n: n == 1), ("2", lambda n: n == 2), ("3+", lambda n: n >= 3)):
        sel = [r for r in rows if test(r["hands"])]
        if not sel:
            groups[label] = None
            continue
        groups[label] = {
            "images": len(sel),
            "mean_hands": float(np.mean([r["hands"] for r in sel])),
            "landmarks_ms": float(np.median([r["landmarks_ms"] for r in sel])),
            "fitting_ms": float(np.median([r["fitting_ms"] for r in sel])),
            "fitting_ms_per_hand": float(np.median([r["fitting_ms"] / r["hands"] for r in sel])),
            "fitting_cpu_ms_per_hand": float(np.median([r["fitting_cpu_ms"] / r["hands"] for r in sel])),
            "total_ms": float(np.median([r["landmarks_ms"] + r["fitting_ms"] for r in sel])),
            "median_iterations": float(np.median([i for r in sel for i in r["iterations"]])),
        }
    return {"groups": groups, "images": rows}


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def to_markdown(acc: dict[str, Any], tim: dict[str, Any], meta: dict[str, Any]) -> str:
    """Both tables as Markdown."""
    accuracy_cells = []
    for subset, rows in acc.items():
        for stage in ("mediapipe", "fitted"):
            s = rows[stage]
            fit = rows["fit"] if stage == "fitted" else {}
            accuracy_cells.append([
                subset, stage, s["images"], s["hands"], _fmt(s["recall"], ".2f"), _fmt(s["pck@0.2"], ".3f"),
                _fmt(s["norm_2d_error"], ".3f"), _fmt(s["handedness_accuracy"], ".2f"), _fmt(s["rr_mpjpe_mm"], ".1f"),
                _fmt(s["pa_mpjpe_mm"], ".1f"), _fmt(s["depth_error_pct"], ".1f"),
                _fmt(fit.get("median_iterations"), ".0f"), _fmt(fit.get("mean_reprojection_px"), ".2f")])
    timing_cells = [
        [label, 0, "-", "-", "-", "-", "-", "-"] if g is None else
        [label, g["images"], f"{g['landmarks_ms']:.1f}", f"{g['fitting_ms']:.1f}", f"{g['fitting_ms_per_hand']:.1f}",
         f"{g['fitting_cpu_ms_per_hand']:.1f}", f"{g['total_ms']:.1f}", f"{g['median_iterations']:.0f}"]
        for label, g in tim["groups"].items()
    ]
    lines = [f"## Two-stage accuracy ({meta['data']}, score_threshold {meta['score_threshold']})", "",
             markdown_table(["subset", "keypoints", "images", "hands", "recall", "PCK@0.2", "norm. 2D err", "handedness",
                             "RR-MPJPE mm", "PA-MPJPE mm", "wrist depth err %", "fit iters (median)", "fit reproj. px"],
                            accuracy_cells, align="ll" + "r" * 11),
             "", "mediapipe = raw landmarks (3D: world landmarks placed by the closed-form translation); "
             "fitted = the fitted model's keypoints. PCK@0.2 / norm. 2D err: error / GT hand size "
             "(hand-mesh eval's definitions).", "",
             f"## Two-stage timing ({meta['cpu']}, torch threads {meta['torch_threads']}, "
             f"{meta['repeats']} runs per image, IMAGE mode)", "",
             markdown_table(["hands in image", "images", "MediaPipe ms", "fitting ms", "fitting ms / hand",
                             "fit CPU ms / hand", "total ms", "fit iters (median)"], timing_cells, align="l" + "r" * 7)]
    lines += ["", "Medians over images of each image's median over the runs (after one warm-up run); 3+ = three "
              "hands or more. fit CPU = the fit's thread CPU time (single-threaded): near its wall time on an "
              f"idle CPU. Load average during the run: {meta['load_average']}."]
    return "\n".join(lines) + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/two_stage"), help="Folder for the .md and .json."),
    data: Path = typer.Option(None, help="Shared data folder [default: ../shared/data]."),
    repeats: int = typer.Option(3, min=1, help="Runs per timing image."),
    max_pool: int = typer.Option(40, min=0, help="Most pool/ photos in the timing set."),
    score_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="MediaPipe detection/presence threshold."),
    max_hands: int = typer.Option(4, min=1, help="Most hands per image."),
) -> None:
    """Accuracy table over the annotated subsets and timing table over real photos."""
    import torch

    from hand_mesh_core.paths import find_shared_data
    from hand_mesh_core.backends import create_predictor

    shared = data or find_shared_data()
    if shared is None or not Path(shared).is_dir():
        raise typer.BadParameter("../shared/data not found; pass --data")
    shared = Path(shared)
    predictor = create_predictor("two_stage", device="cpu", score_threshold=score_threshold, max_hands=max_hands)
    t0 = time.perf_counter()
    acc = accuracy(predictor, shared / "annotated")
    tim = timing(predictor, timing_images(shared, max_pool), repeats)
    meta = {
        "data": str(shared / "annotated"),
        "score_threshold": score_threshold,
        "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "repeats": repeats,
        "hand_model": predictor.hand_model_name,
        "fit_settings": dataclasses.asdict(predictor.fitter.settings),
        "seconds": time.perf_counter() - t0,
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    table = to_markdown(acc, tim, meta)
    md, js = write_report(out, "two_stage_eval", table, {"meta": meta, "accuracy": acc, "timing": tim})
    typer.echo(table)
    typer.echo(f"written: {md}, {js}")


if __name__ == "__main__":
    typer.run(main)
