"""Single-stage vs two-stage, by number of hands: per-frame latency, throughput, peak memory.

Run: ``hand-mesh bench`` (:mod:`hand_mesh_core.cli.bench`) or :func:`run_bench`.

Frames: real photos from ``../shared/data/images`` (and their mirror images) tiled whole
into frames of one fixed size (default 1280x960, 2 x 2 cells) holding 1, 2, 4 and 8 of the
hands the reference detector finds in them (:mod:`.multi_hand_frames`). For each count the
arrangement in which the reference detector, configured as the measured two-stage
pipeline, finds the placed hands best is chosen; the hands it finds (and how many of them
are placed ones) are reported per frame. MediaPipe's palm detector does not find all hands
once several people share a frame (measured there): in none of the arrangements of these
photos tried does it find 8.

Comparison with the two-stage pipeline at ``N`` hands (:meth:`BenchResult.targets`): where
it processed all ``N`` hands, the medians are compared ("yes" / "no"); where it processed
only ``k < N``, its latency on that frame is a lower bound of its latency with ``N`` hands
(each further hand adds a landmark pass and a fit), so a single-stage median below it
means "yes (lower bound)", and one above it decides nothing ("undecided").

The same pipelines are also measured on the source photos themselves (``photos``), whose
hands the reference detector finds as they are: real scenes where the two-stage pipeline
does process two hands, for a measured comparison at 2 hands.

Pipelines, each measured in a fresh process (spawned), so that its peak resident memory
(``ru_maxrss``) is its own and no runtime's threads or caches disturb another:

* ``single_stage`` with each runtime (``torch``, ``onnxruntime``, ``tensorrt`` where
  available) on ``device``: ``predict(frame, K)`` end to end (letterbox, network,
  decoding with the hand model, result objects);
* ``two_stage`` (MediaPipe HandLandmarker + hand-model fit, the reference; CPU).

Environment of the measured processes: ``OMP_WAIT_POLICY`` (GNU OpenMP, read when torch
loads) is set to ``omp_wait_policy`` (default ``PASSIVE``: idle OpenMP threads sleep
instead of spinning, see :mod:`hand_mesh_core.single_stage.runtimes.torch_engine`), unless that is
``"inherit"``; the value used is written in the results.

Each repetition runs every frame once, hand counts interleaved, so that load from other
processes affects all counts alike; reported per count: median and 95th percentile of the
frame latency (ms), throughput (frames per second = 1000 / mean latency, one frame at a
time), the hands each pipeline returned (median), its stage timings (medians of
``Prediction.timings``), and per pipeline the peak RSS (MiB; on CUDA also
``torch.cuda.max_memory_allocated``).

Weights of the single-stage network: the given file, else the shipped trained weights;
without either, the light default network (palm backbone with MediaPipe's features, heads
at initialisation) is measured with ``score_threshold=0`` and ``max_hands`` set to the
frame's hand count, so it decodes exactly that many hands: the cost of a trained network
on such a frame (the network's cost does not depend on its weights).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hand_mesh_core.bench.report import latency_summary, machine_meta, markdown_table

#: Hand counts of the benchmark frames.
HAND_COUNTS = (1, 2, 4, 8)
#: Targets of issue 8 (this 2-core CPU, default input size): 8-hand latency within 15 % of
#: the 1-hand latency, and below the two-stage pipeline from 2 hands up.
FLAT_TARGET = 1.15


@dataclasses.dataclass(frozen=True)
class PipelineSpec:
    """One pipeline to measure.

    Attributes:
        name: table label, e.g. ``"single_stage/onnxruntime"``.
        backend: ``create_predictor`` backend.
        options: ``create_predictor`` options.
        force_counts: set ``max_hands`` to the frame's hand count before each frame
            (untrained single-stage network with ``score_threshold=0``, see the module docstring).
    """

    name: str
    backend: str
    options: dict[str, Any]
    force_counts: bool = False


def _measure_frames(
    predictor: Any, frames: dict[Any, np.ndarray], counts: dict[Any, int] | None, repeats: int, warmup: int
) -> dict[Any, dict[str, Any]]:
    """Latency statistics of ``predictor`` per frame; ``counts`` (frame -> hands) set
    ``max_hands`` before each frame when given (see :class:`PipelineSpec`)."""
    from hand_mesh_core.camera import intrinsics_from_fov

    Ks = {k: intrinsics_from_fov(f.shape[1], f.shape[0]) for k, f in frames.items()}
    keys = sorted(frames)

    def run(k: Any) -> tuple[float, Any]:
        if counts is not None:
            predictor.max_hands = max(1, counts[k])
        t = time.perf_counter()
        pred = predictor.predict(frames[k], Ks[k])
        return (time.perf_counter() - t) * 1e3, pred

    for _ in range(warmup):
        for k in keys:
            run(k)
    times: dict[Any, list[float]] = {k: [] for k in keys}
    hands: dict[Any, list[int]] = {k: [] for k in keys}
    stages: dict[Any, dict[str, list[float]]] = {k: {} for k in keys}
    for _ in range(repeats):
        for k in keys:
            ms, pred = run(k)
            times[k].append(ms)
            hands[k].append(len(pred))
            for key, value in pred.timings.items():
                if key != "total":
                    stages[k].setdefault(key, []).append(float(value))
    return {
        k: {
            **latency_summary(times[k]),
            "hands": int(statistics.median(hands[k])),
            "stages": {name: statistics.median(v) for name, v in stages[k].items()},
        }
        for k in keys
    }


def measure_pipeline(
    spec: PipelineSpec,
    frames: dict[int, np.ndarray],
    repeats: int,
    warmup: int,
    photos: dict[str, np.ndarray] | None = None,
    photo_hands: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Measure one pipeline in this process (see the module docstring).

    ``frames``: ``{hand count: HxWx3 uint8 RGB}``; ``photos``: optional ``{name: image}``
    measured the same way, with ``photo_hands`` their reference hand counts (used as
    ``max_hands`` when ``spec.force_counts``). Returns a dict with ``"describe"``,
    ``"device"``, ``"peak_rss_mib"``, ``"cuda_max_allocated_mib"`` (or None), ``"counts"``
    (per hand count: ``median_ms``, ``p95_ms``, ``mean_ms``, ``min_ms``, ``fps``,
    ``hands``, ``stages``) and ``"photos"`` (the same per photo, or empty). Raises what
    ``create_predictor`` raises.
    """
    import resource

    import torch

    from hand_mesh_core import create_predictor

    cuda = str(spec.options.get("device", "cpu")).startswith("cuda")
    predictor = create_predictor(spec.backend, **spec.options)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    composed = _measure_frames(predictor, frames, {n: n for n in frames} if spec.force_counts else None,
                               repeats, warmup)
    natural = {}
    if photos:
        natural = _measure_frames(predictor, photos, photo_hands if spec.force_counts else None, repeats, warmup)
    engine = getattr(predictor, "engine", None)
    return {
        "describe": engine.describe() if engine is not None else "MediaPipe HandLandmarker + fit (CPU)",
        "device": predictor.device,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "cuda_max_allocated_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "counts": composed,
        "photos": natural,
    }


def run_isolated(fn: Any, *args: Any, env: dict[str, str] | None = None) -> Any:
    """``fn(*args)`` in a freshly spawned process whose environment has ``env`` added.

    ``fn`` must be importable (a module-level function). An exception there is returned as
    ``{"error": "<type>: <message>"}``.
    """
    context = multiprocessing.get_context("spawn")
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # a spawned child copies the environment when it starts
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            future = pool.submit(fn, *args)
            try:
                return future.result()
            except Exception as exc:  # the child's error, reported in the table
                return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: Verdicts of the comparison with the two-stage pipeline (see :meth:`BenchResult.targets`).
VERDICTS = ("yes", "no", "yes (lower bound)", "undecided")


def compare_with_two_stage(single_ms: float, two_stage_ms: float, two_stage_hands: int, hands: int) -> str:
    """Is the single-stage pipeline faster than the two-stage one on an ``hands``-hand frame?

    ``"yes"`` / ``"no"`` when the two-stage pipeline processed all ``hands``; when it
    processed fewer, its latency is a lower bound of its latency with all of them, so a
    faster single-stage median gives ``"yes (lower bound)"`` and a slower one
    ``"undecided"``. Raises ``ValueError`` for a negative hand count.
    """
    if hands < 0 or two_stage_hands < 0:
        raise ValueError(f"hand counts must be >= 0, got {hands}, {two_stage_hands}")
    if two_stage_hands >= hands:
        return "yes" if single_ms < two_stage_ms else "no"
    return "yes (lower bound)" if single_ms < two_stage_ms else "undecided"


@dataclasses.dataclass
class BenchResult:
    """Everything one benchmark run measured (see :func:`run_bench`).

    Attributes:
        meta: machine, settings and load.
        frames: per hand count, the composed frame: ``{"hands", "detected", "matched",
            "sources", "tried"}`` (:class:`~.multi_hand_frames.ComposedFrame`).
        rows: per pipeline name, :func:`measure_pipeline`'s result or ``{"error": why}``.
        profile: the single-stage stage profile rows, or None.
        photos_detected: hands the reference detector finds in each source photo measured.
    """

    meta: dict[str, Any]
    frames: dict[int, dict[str, Any]]
    rows: dict[str, dict[str, Any]]
    profile: list[dict[str, Any]] | None = None
    photos_detected: dict[str, int] = dataclasses.field(default_factory=dict)

    def targets(self) -> dict[str, dict[str, Any]]:
        """Per single-stage pipeline: ``ratio`` (8/1, largest/smallest hand count median
        latency), ``flat`` (ratio <= :data:`FLAT_TARGET`), ``faster_than_two_stage`` (per
        hand count >= 2: ``{"verdict", "two_stage_hands"}``, :func:`compare_with_two_stage`)
        and ``faster_on_two_hand_photos`` (per source photo where the two-stage pipeline
        processed 2+ hands: single-stage median below the two-stage one)."""
        two = self.rows.get("two_stage", {}).get("counts")
        two_photos = self.rows.get("two_stage", {}).get("photos") or {}
        out = {}
        for name, row in self.rows.items():
            if not name.startswith("single_stage") or "counts" not in row:
                continue
            c = row["counts"]
            lo, hi = min(c), max(c)
            ratio = c[hi]["median_ms"] / c[lo]["median_ms"]
            faster = {
                n: {"verdict": compare_with_two_stage(c[n]["median_ms"], two[n]["median_ms"], two[n]["hands"], n),
                    "two_stage_hands": two[n]["hands"]}
                for n in c if n >= 2 and two and n in two
            }
            photos = {
                p: row["photos"][p]["median_ms"] < two_photos[p]["median_ms"]
                for p in sorted(row.get("photos") or {})
                if p in two_photos and two_photos[p]["hands"] >= 2
            }
            out[name] = {"ratio": ratio, "flat": ratio <= FLAT_TARGET, "faster_than_two_stage": faster,
                         "faster_on_two_hand_photos": photos}
        return out

    def to_markdown(self) -> str:
        """The table, with a header on the machine and the frames, and a line per target."""
        m = self.meta
        lines = [
            f"# hand-mesh bench: latency by number of hands ({m['date']})",
            "",
            f"Machine: {m['cpu']} ({m['cores']} logical cores{', shared with other jobs' if m['shared_note'] else ''}), "
            f"device {m['device']}{' (' + m['gpu'] + ')' if m.get('gpu') else ''}, torch {m['torch']} "
            f"({m['torch_threads']} threads, OMP_WAIT_POLICY {m['omp_wait_policy']}), onnxruntime {m['onnxruntime']}. "
            f"Load average "
            f"{m['load_before'][0]:.1f} before, {m['load_after'][0]:.1f} after.",
            f"Frames: {m['frame_size'][0]}x{m['frame_size'][1]}, {m['grid'][0]} x {m['grid'][1]} cells of whole photos "
            f"from {m['images']} and their mirror images ({m['repeats']} timed runs per frame after {m['warmup']} "
            f"warm-up runs, counts interleaved). Single-stage weights: {m['weights']}.",
            f"Hands the reference detector (MediaPipe, threshold {m['two_stage_threshold']}, as the two_stage "
            "pipeline) finds in each frame: "
            + "; ".join(f"{n} placed ({', '.join(f['sources'])}) -> {f['detected']} found, {f['matched']} of them placed"
                        for n, f in sorted(self.frames.items())) + ".",
            "",
        ]
        cells = []
        for name, row in self.rows.items():
            if "error" in row:
                cells.append([name, f"unavailable: {row['error']}"] + ["-"] * 7)
                continue
            cuda = f" (CUDA {row['cuda_max_allocated_mib']:.0f})" if row.get("cuda_max_allocated_mib") else ""
            for n, c in sorted(row["counts"].items()):
                stages = ", ".join(f"{k} {v:.1f}" for k, v in c["stages"].items())
                cells.append([name, row["describe"], n, c["hands"], f"{c['median_ms']:.1f}", f"{c['p95_ms']:.1f}",
                              f"{c['fps']:.1f}", stages, f"{row['peak_rss_mib']:.0f}{cuda}"])
        lines += [markdown_table(["pipeline", "runtime", "hands in frame", "hands returned", "median ms", "p95 ms", "fps",
                                  "stages (median ms)", "peak RSS MiB"], cells), ""]
        for name, t in self.targets().items():
            faster = ", ".join(
                f"{n}: {v['verdict']}" + (f" (two_stage processed {v['two_stage_hands']} of {n} hands)"
                                          if v["two_stage_hands"] < n else "")
                for n, v in sorted(t["faster_than_two_stage"].items())
            )
            lines.append(
                f"- {name}: 8-hand / 1-hand latency {t['ratio']:.2f} (target <= {FLAT_TARGET:.2f}: "
                f"{'met' if t['flat'] else 'MISSED'}); below two_stage from 2 hands up: {faster or 'no two_stage run'}"
                + ("; on photos where two_stage processed 2+ hands: "
                   + ", ".join(f"{p}: {'yes' if ok else 'NO'}" for p, ok in t["faster_on_two_hand_photos"].items())
                   if t["faster_on_two_hand_photos"] else "")
            )
        if any(row.get("photos") for row in self.rows.values()):
            photo_cells = [
                [name, photo, self.meta.get("photo_sizes", {}).get(photo, ""), c["hands"], f"{c['median_ms']:.1f}",
                 f"{c['p95_ms']:.1f}", ", ".join(f"{k} {v:.1f}" for k, v in c["stages"].items())]
                for name, row in self.rows.items() for photo, c in sorted((row.get("photos") or {}).items())
            ]
            lines += [
                "",
                "Source photos as they are (hands the reference detector finds: "
                + ", ".join(f"{p} {n}" for p, n in sorted(self.photos_detected.items())) + "):",
                "",
                markdown_table(["pipeline", "photo", "size", "hands returned", "median ms", "p95 ms",
                                "stages (median ms)"], photo_cells),
            ]
        if self.profile:
            from hand_mesh_core.bench.single_stage_profile import profile_to_markdown

            lines += ["", profile_to_markdown(self.profile, self.meta["torch_threads"])]
        return "\n".join(lines).rstrip("\n") + "\n"

    def to_json(self, path: str | Path) -> None:
        data = {"meta": self.meta, "frames": self.frames, "photos_detected": self.photos_detected,
                "rows": self.rows, "targets": self.targets(), "profile": self.profile}
        Path(path).write_text(json.dumps(data, indent=2, default=str))

    def plot(self, path: str | Path) -> None:
        """Median latency (line) and p95 (bar end) vs hands in the frame, one line per pipeline;
        the two-stage points are labelled with the hands it processed."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for name, row in self.rows.items():
            if "counts" not in row:
                continue
            ns = sorted(row["counts"])
            med = [row["counts"][n]["median_ms"] for n in ns]
            p95 = [row["counts"][n]["p95_ms"] for n in ns]
            ax.errorbar(ns, med, yerr=[np.zeros(len(ns)), np.subtract(p95, med)], marker="o", capsize=3, label=name)
            if name == "two_stage":
                for n, m_, h in zip(ns, med, (row["counts"][n]["hands"] for n in ns)):
                    ax.annotate(f"{h} found", (n, m_), textcoords="offset points", xytext=(4, -12), fontsize=7)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(HAND_COUNTS), [str(n) for n in HAND_COUNTS])
        ax.set_xlabel("hands in the frame")
        ax.set_ylabel("latency per frame, ms (median; bar to p95)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{self.meta['device']} - {self.meta['cpu']}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)


def _untrained_weights(folder: Path) -> Path:
    import torch

    from hand_mesh_core.network.backbones import available_backbones
    from hand_mesh_core.network.model import SingleStageNet

    torch.manual_seed(0)
    config = "single_stage_palm" if "palm" in available_backbones() else "single_stage_resnet18"
    path = folder / f"untrained_{config}.safetensors"
    SingleStageNet(config).save(path)
    return path


def _bench_env(runtimes: Sequence[str], counts: Sequence[int], two_stage_threshold: float,
               omp_wait_policy: str) -> dict[str, str]:
    """Check :func:`run_bench`'s options; returns the environment added to the measured
    processes (``{"OMP_WAIT_POLICY": ...}``, or empty for ``"inherit"``). Raises
    ``ValueError`` as :func:`run_bench` documents."""
    from hand_mesh_core.single_stage.runtimes import RUNTIMES

    for r in runtimes:
        if r not in RUNTIMES:
            raise ValueError(f"unknown runtime {r!r}; known: {RUNTIMES}")
    if not counts or any(int(n) < 1 or int(n) > 8 for n in counts):
        raise ValueError(f"hand counts must be in 1..8, got {list(counts)}")
    if not 0.0 <= two_stage_threshold <= 1.0:
        raise ValueError(f"two_stage_threshold must be in [0, 1], got {two_stage_threshold}")
    if omp_wait_policy not in ("PASSIVE", "ACTIVE", "inherit"):
        raise ValueError(f"omp_wait_policy must be PASSIVE, ACTIVE or inherit, got {omp_wait_policy!r}")
    return {} if omp_wait_policy == "inherit" else {"OMP_WAIT_POLICY": omp_wait_policy}


def _image_folder(images: str | Path | None) -> str | Path:
    """``images``, else ``../shared/data/images``; raises ``FileNotFoundError`` without either."""
    if images is not None:
        return images
    from hand_mesh_core.paths import find_shared_data

    shared = find_shared_data()
    if shared is None:
        raise FileNotFoundError("../shared/data not found; pass images=<folder of photos with hands>")
    return shared / "images"


def _compose_frames(images: str | Path, counts: Sequence[int], two_stage_threshold: float,
                    frame_size: tuple[int, int], grid: tuple[int, int], log: Any) -> tuple[dict, list]:
    """The benchmark frames ``{hand count: ComposedFrame}`` and the scenes they are made of
    (:mod:`.multi_hand_frames`), chosen with the reference detector exactly as the measured
    two_stage pipeline runs it; logs what it finds in each frame."""
    from hand_mesh_core.bench.multi_hand_frames import collect_scenes, landmarker_detector, select_frames
    from hand_mesh_core.two_stage.landmarker import HandLandmarker

    landmarker = HandLandmarker(max_hands=max(counts), min_detection_confidence=two_stage_threshold,
                                min_presence_confidence=two_stage_threshold)
    try:
        detect = landmarker_detector(landmarker)
        scenes = collect_scenes(images, detect)
        composed = select_frames(scenes, counts, detect, frame_size=frame_size, grid=grid)
    finally:
        landmarker.close()
    for n, f in composed.items():
        log(f"frame with {n} hands ({', '.join(f.sources)}): MediaPipe finds {f.detected}, {f.matched} of them "
            f"placed ({f.tried} arrangements tried)")
    return composed, scenes


def _write_frames_sheet(composed: dict, path: Path) -> None:
    """The frames side by side with their detected counts, as a PNG at ``path``."""
    import cv2

    from hand_mesh_core.viz import contact_sheet

    sheet = contact_sheet([f.rgb for f in composed.values()], cols=2, labels=[
        f"{n} hand{'s' if n != 1 else ''}: MediaPipe finds {f.detected} ({f.matched} placed)" for n, f in composed.items()])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def _source_photos(scenes: list, log: Any) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The photos as they are (not mirrored) where the reference detector finds hands:
    ``({name: RGB image}, {name: hands found})``."""
    photo_frames = {sc.source: sc.rgb for sc in scenes if not sc.source.endswith("(mirrored)")}
    photos_detected = {sc.source: sc.hands for sc in scenes if sc.source in photo_frames}
    log(f"photos: hands found by MediaPipe {photos_detected}")
    return photo_frames, photos_detected


def _single_stage_weights(weights: str | Path | None, tmp: Path) -> tuple[Path, bool]:
    """``(weights file, trained)``: ``weights``, else the shipped default, else an untrained
    light network saved in ``tmp`` (``trained`` False, see the module docstring)."""
    from hand_mesh_core.single_stage.backend import DEFAULT_WEIGHTS

    trained = weights is not None or DEFAULT_WEIGHTS.is_file()
    return (Path(weights) if weights is not None else (DEFAULT_WEIGHTS if trained else _untrained_weights(tmp))), trained


def _pipeline_specs(runtimes: Sequence[str], device: str, weights_path: Path, trained: bool, counts: Sequence[int],
                    two_stage: bool, two_stage_threshold: float, tmp: Path) -> list[PipelineSpec | tuple[str, str]]:
    """What to measure: a :class:`PipelineSpec` per available single-stage runtime (ONNX
    exported once into ``tmp`` for the runtimes other than torch), ``(name, reason)`` for
    an unavailable one, then the two_stage pipeline when asked."""
    from hand_mesh_core.single_stage.runtimes import runtime_unavailable_reason
    from hand_mesh_core.single_stage.runtimes.onnx_export import export_weights

    base = {"device": device, "weights": str(weights_path)}
    if trained:
        base["max_hands"] = max(counts)
    else:
        base["score_threshold"] = 0.0
    specs: list[PipelineSpec | tuple[str, str]] = []
    onnx_path = None
    for runtime in runtimes:
        name = f"single_stage/{runtime}"
        reason = runtime_unavailable_reason(runtime, device)
        if reason is not None:
            specs.append((name, reason))
            continue
        options = dict(base, runtime=runtime)
        if runtime != "torch":
            onnx_path = onnx_path or export_weights(weights_path, tmp / "model.onnx")
            options["onnx"] = str(onnx_path)
        specs.append(PipelineSpec(name, "single_stage", options, force_counts=not trained))
    if two_stage:
        specs.append(PipelineSpec("two_stage", "two_stage", {"device": "cpu", "max_hands": max(counts),
                                                             "score_threshold": two_stage_threshold}))
    return specs


def _measure_specs(specs: list[PipelineSpec | tuple[str, str]], frames: dict[int, np.ndarray], repeats: int,
                   warmup: int, photo_frames: dict[str, np.ndarray], photos_detected: dict[str, int],
                   env: dict[str, str], log: Any) -> dict[str, dict[str, Any]]:
    """Per pipeline name, :func:`measure_pipeline` run in its own process
    (:func:`run_isolated`), or ``{"error": why}``."""
    rows: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if isinstance(spec, tuple):
            rows[spec[0]] = {"error": spec[1]}
            log(f"{spec[0]}: unavailable ({spec[1]})")
            continue
        log(f"measuring {spec.name} ...")
        rows[spec.name] = run_isolated(measure_pipeline, spec, frames, repeats, warmup, photo_frames,
                                       photos_detected, env=env)
        row = rows[spec.name]
        log(f"  {row.get('error') or {n: round(c['median_ms'], 1) for n, c in row['counts'].items()}}")
    return rows


def _profile_stages(weights_path: Path, counts: Sequence[int], repeats: int, env: dict[str, str],
                    log: Any) -> list[dict[str, Any]] | None:
    """The single-stage stage profile (:mod:`.single_stage_profile`) in its own process, or
    None when it failed (logged)."""
    from hand_mesh_core.bench.single_stage_profile import profile_single_stage

    log("profiling the single-stage stages ...")
    stage_rows = run_isolated(profile_single_stage, weights_path, (1, max(counts)), repeats, env=env)
    if isinstance(stage_rows, dict):  # an error
        log(f"  profile failed: {stage_rows['error']}")
        return None
    return stage_rows


def _bench_meta(device: str, env: dict[str, str], *, frame_size: tuple[int, int], grid: tuple[int, int],
                two_stage_threshold: float, images: str | Path, repeats: int, warmup: int, weights_path: Path,
                trained: bool, load_before: Sequence[float], scenes: list,
                photo_frames: dict[str, np.ndarray]) -> dict[str, Any]:
    """:attr:`BenchResult.meta`: the machine (:func:`~.report.machine_meta`), the settings,
    the load before and now, the scenes and photo sizes."""
    import onnxruntime

    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        **machine_meta(device),
        "cores": os.cpu_count(),
        "shared_note": True,
        "omp_wait_policy": env.get("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "unset")),
        "onnxruntime": onnxruntime.__version__,
        "frame_size": list(frame_size),
        "grid": list(grid),
        "two_stage_threshold": two_stage_threshold,
        "images": str(images),
        "repeats": repeats,
        "warmup": warmup,
        "weights": (str(weights_path) if trained else
                    "untrained light default (palm backbone), score_threshold 0 and max_hands = hands in frame"),
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
        "scenes": {sc.source: sc.hands for sc in scenes},
        "photo_sizes": {name: f"{im.shape[1]}x{im.shape[0]}" for name, im in photo_frames.items()},
    }


def run_bench(
    out: str | Path,
    *,
    images: str | Path | None = None,
    runtimes: Sequence[str] = ("torch", "onnxruntime", "tensorrt"),
    device: str = "cpu",
    counts: Sequence[int] = HAND_COUNTS,
    repeats: int = 20,
    warmup: int = 3,
    weights: str | Path | None = None,
    two_stage: bool = True,
    two_stage_threshold: float = 0.5,
    frame_size: tuple[int, int] = (1280, 960),
    grid: tuple[int, int] = (2, 2),
    omp_wait_policy: str = "PASSIVE",
    profile: bool = True,
    photos: bool = True,
    log: Any = print,
) -> BenchResult:
    """Compose the frames, measure every pipeline, write ``bench.md``, ``bench.json``,
    ``bench.png`` and ``frames.png`` (the frames, their sources and detected counts) to ``out``.

    Args:
        out: output folder (created).
        images: folder of real photos (default ``../shared/data/images``).
        runtimes: single-stage runtimes; unavailable ones get a row saying why.
        device: ``"cpu"``, ``"cuda"`` (the single-stage runtimes; two-stage stays on the CPU).
        counts: hand counts of the frames (each <= 8).
        repeats, warmup: timed and untimed runs per frame.
        weights: single-stage weights (default: shipped, else untrained; module docstring).
        two_stage: also measure the two-stage pipeline.
        two_stage_threshold: the two-stage pipeline's ``score_threshold`` (MediaPipe's
            detection and presence thresholds; its default 0.5), also used to compose and
            check the frames.
        frame_size: ``(width, height)`` of the frames.
        grid: ``(columns, rows)`` of photo cells in a frame.
        omp_wait_policy: ``OMP_WAIT_POLICY`` of the measured processes (``"PASSIVE"``,
            ``"ACTIVE"``) or ``"inherit"`` (this process's environment).
        profile: add the stage profile of the single-stage network on the CPU
            (:mod:`.single_stage_profile`).
        photos: also measure on the source photos in which the reference detector finds
            hands (see the module docstring).
        log: callable for progress lines.

    Raises ``FileNotFoundError`` when no image folder is found and ``ValueError`` for bad
    counts, runtime names or threshold, or photos whose hands cannot make up a count.
    """
    from hand_mesh_core.predictor import resolve_device

    env = _bench_env(runtimes, counts, two_stage_threshold, omp_wait_policy)
    images = _image_folder(images)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    load_before = os.getloadavg()

    composed, scenes = _compose_frames(images, counts, two_stage_threshold, frame_size, grid, log)
    frames = {n: f.rgb for n, f in composed.items()}
    frame_info = {n: {"hands": f.hands, "detected": f.detected, "matched": f.matched, "sources": list(f.sources),
                      "tried": f.tried} for n, f in composed.items()}
    _write_frames_sheet(composed, out / "frames.png")
    photo_frames, photos_detected = _source_photos(scenes, log) if photos else ({}, {})

    with tempfile.TemporaryDirectory(prefix="hand_mesh_bench_") as tmp:
        weights_path, trained = _single_stage_weights(weights, Path(tmp))
        specs = _pipeline_specs(runtimes, device, weights_path, trained, counts, two_stage, two_stage_threshold,
                                Path(tmp))
        rows = _measure_specs(specs, frames, repeats, warmup, photo_frames, photos_detected, env, log)
        stage_rows = _profile_stages(weights_path, counts, repeats, env, log) if profile else None

    meta = _bench_meta(device, env, frame_size=frame_size, grid=grid, two_stage_threshold=two_stage_threshold,
                       images=images, repeats=repeats, warmup=warmup, weights_path=weights_path, trained=trained,
                       load_before=load_before, scenes=scenes, photo_frames=photo_frames)
    result = BenchResult(meta=meta, frames=frame_info, rows=rows, profile=stage_rows, photos_detected=photos_detected)
    (out / "bench.md").write_text(result.to_markdown())
    result.to_json(out / "bench.json")
    result.plot(out / "bench.png")
    return result
