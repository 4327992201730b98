"""Hands of every size: labelled real frames pasted at several scales into a larger canvas.

Run: ``python -m hand_mesh_core.bench.hand_scale --out output/bench/hand_scale``
(``--backends``, ``--subset``, ``--canvas 1024x768``, ``--scales 1,0.5,0.25``, ``--weights``,
``--tiles off,auto``, ``--backgrounds``). Prints a Markdown table and writes it
(``hand_scale.md``) with the raw numbers (``hand_scale.json``) and a plot of recall against
the hand's height in pixels (``hand_scale.png``) to ``--out``.

Hands at a distance (issue 14): ``--canvas 1920x1080 --scales 1,0.5,0.25,0.125
--backgrounds default --tiles off,auto`` pastes into real photos of the pool
(:data:`DEFAULT_BACKGROUNDS`, scenes with people, cropped to the canvas' aspect and resized;
their own unlabelled hands make precision undefined there, so it is not reported).

Protocol (issue 13's scale goals): every frame of a labelled subset (default: the real
validation frames of ``../shared/data/validation/ge_realworld``, hands about 200 px tall
in 256 px crops) is resized by ``scale`` (``cv2.INTER_AREA``) and pasted at a seeded random
place, wholly inside, into a uniform grey canvas (:data:`CANVAS_GREY`). The labels move
exactly with the pixels (corner-origin pixels, :mod:`hand_mesh_core.camera`):
``u' = s u + o_x``, ``v' = s v + o_y``, and so does the camera:
``K' = [[s fx, 0, s cx + o_x], [0, s fy, s cy + o_y], [0, 0, 1]]`` (focal scaled, principal
point shifted), so the 3D labels stay metric and unchanged. Each backend then runs on the
canvas with ``K'`` and is scored as ``hand-mesh eval`` scores
(:func:`hand_mesh_core.evaluation.benchmark.score_image`: recall, PCK@0.2 box-normalised,
root-relative MPJPE, PA-MPJPE, wrist depth error). ``hand px`` is the median labelled hand
size (larger side of the box) in canvas pixels, ``at net`` the same in pixels of a
network that letterboxes the canvas to ``--net-input`` (256 for the shipped weights).

Scale 1 of a 256 px crop in a 1024x768 canvas is therefore already a hand of ~50 px at the
network's 256 px input; the unpasted frames (``hand-mesh eval``) are the ~200 px case.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import typer

from hand_mesh_core.bench.report import machine_meta, markdown_table, write_report
from hand_mesh_core.data.sample import HandLabel, Sample

#: Real photos of ``../shared/data/pool`` (paths under the data folder) used as backgrounds
#: by ``--backgrounds default``: outdoor and indoor scenes with people at a distance.
DEFAULT_BACKGROUNDS = (
    "pool/4d-humans/example_data__images__skates.png",
    "pool/romp/demo__images__3dpw_sit_on_street.jpg",
    "pool/ihoi/docs__demo_02.jpg",
    "pool/pixie/TestSamples__body__mtc_09.png",
)
#: Grey level (RGB, all channels) of the canvas.
CANVAS_GREY = 128
DEFAULT_SCALES = (1.0, 0.5, 0.25)
DEFAULT_CANVAS = (1024, 768)


def paste_sample(sample: Sample, canvas_size: tuple[int, int], scale: float, rng: np.random.Generator,
                 background: np.ndarray | None = None) -> Sample:
    """``sample`` resized by ``scale`` and pasted at a random place into a grey canvas.

    Args:
        sample: a labelled sample (``K`` required: the 3D labels need it).
        canvas_size: ``(width, height)`` of the canvas, pixels.
        scale: resize factor of the frame (> 0); the resized frame must fit the canvas.
        rng: draws the top-left corner uniformly where the frame fits.
        background: ``HxWx3 uint8`` RGB of the canvas size to paste into instead of grey
            (a real photo: the hand then sits in a real scene); not modified.

    Returns a :class:`Sample` holding the canvas (``image``), its ``K'`` and the moved
    labels (2D keypoints and boxes scaled and shifted; 3D keypoints unchanged). Raises
    ``ValueError`` for a sample without ``K``, a non-positive scale or a frame that does
    not fit.
    """
    if sample.K is None:
        raise ValueError(f"sample {sample.sample_id!r} has no K: its 3D labels cannot be moved")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    image = sample.load_image()
    h, w = image.shape[:2]
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    cw, ch = canvas_size
    if nw > cw or nh > ch:
        raise ValueError(f"a {w}x{h} frame at scale {scale} ({nw}x{nh}) does not fit a {cw}x{ch} canvas")
    sx, sy = nw / w, nh / h
    ox, oy = int(rng.integers(0, cw - nw + 1)), int(rng.integers(0, ch - nh + 1))
    if background is None:
        canvas = np.full((ch, cw, 3), CANVAS_GREY, np.uint8)
    elif background.shape != (ch, cw, 3) or background.dtype != np.uint8:
        raise ValueError(f"background must be {ch}x{cw}x3 uint8, got {background.shape} {background.dtype}")
    else:
        canvas = background.copy()
    canvas[oy : oy + nh, ox : ox + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    A = np.array([[sx, 0.0, ox], [0.0, sy, oy], [0.0, 0.0, 1.0]])
    hands = []
    for hand in sample.hands:
        kp = np.where(hand.valid[:, None], hand.keypoints_2d * [sx, sy] + [ox, oy], 0.0)
        box = None if hand.bbox is None else hand.bbox * [sx, sy, sx, sy] + [ox, oy, ox, oy]
        hands.append(dataclasses.replace(hand, keypoints_2d=kp.astype(np.float32), bbox=box, mask_path=None,
                                         mask=None))
    return Sample(hands=hands, image=canvas, image_size=(cw, ch), K=A @ sample.K,
                  all_hands_labelled=sample.all_hands_labelled, dataset=sample.dataset,
                  sample_id=f"{sample.sample_id}@{scale:g}")


def fit_background(rgb: np.ndarray, canvas_size: tuple[int, int]) -> np.ndarray:
    """``rgb`` centre-cropped to the canvas' aspect ratio and resized to ``canvas_size`` (w, h)."""
    cw, ch = canvas_size
    h, w = rgb.shape[:2]
    if w * ch > h * cw:  # wider than the canvas: crop the sides
        nw = max(1, round(h * cw / ch))
        rgb = rgb[:, (w - nw) // 2 : (w - nw) // 2 + nw]
    else:
        nh = max(1, round(w * ch / cw))
        rgb = rgb[(h - nh) // 2 : (h - nh) // 2 + nh]
    return np.ascontiguousarray(cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA))


def pasted_samples(samples: Sequence[Sample], canvas_size: tuple[int, int], scale: float, seed: int,
                   backgrounds: Sequence[np.ndarray] = ()) -> Iterator[Sample]:
    """:func:`paste_sample` of every sample, lazily (one canvas in memory at a time); the
    positions depend only on ``seed`` and the sample's index. With ``backgrounds``
    (canvas-sized RGB photos) sample ``i`` goes into photo ``i mod n``, and the pasted
    sample does not claim that all its hands are labelled (the photo has its own)."""
    for i, sample in enumerate(samples):
        photo = backgrounds[i % len(backgrounds)] if len(backgrounds) else None
        pasted = paste_sample(sample, canvas_size, scale, np.random.default_rng((seed, i)), background=photo)
        if photo is not None:
            pasted.all_hands_labelled = False
        yield pasted


def median_hand_size(samples: Sequence[Sample], scale: float) -> float:
    """Median labelled hand size (larger box side, :meth:`HandLabel.box_size`) in pixels after ``scale``."""
    sizes = [scale * h.box_size() for s in samples for h in s.hands if h.valid.any()]
    return float(np.median(sizes)) if sizes else float("nan")


def run(
    backends: Sequence[str],
    samples: Sequence[Sample],
    canvas_size: tuple[int, int] = DEFAULT_CANVAS,
    scales: Sequence[float] = DEFAULT_SCALES,
    seed: int = 0,
    predictor_options: dict[str, Any] | None = None,
    backend_options: dict[str, dict[str, Any]] | None = None,
    tiles: Sequence[str] = ("off",),
    backgrounds: Sequence[np.ndarray] = (),
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Score each backend, with each ``tiles`` policy, at each scale; returns ``(rows, unavailable)``.

    ``rows``: one dict per (backend, tiles, scale) with ``backend``, ``tiles``, ``scale``,
    ``hand_px`` and the :meth:`~hand_mesh_core.evaluation.benchmark.SubsetScores.summary` keys.
    ``unavailable``: ``{backend: reason}`` for backends that could not be created.
    """
    from hand_mesh_core.evaluation.benchmark import evaluate_predictor
    from hand_mesh_core.backends import create_predictor

    rows, unavailable = [], {}
    for backend in backends:
        for policy in tiles:
            try:
                options = {**(predictor_options or {}), **((backend_options or {}).get(backend) or {})}
                predictor = create_predictor(backend, tiles=policy, **options)
            except Exception as e:  # reported, not raised: a backend may lack weights or packages
                unavailable[backend] = f"{type(e).__name__}: {e}"
                break
            for scale in scales:
                predictor.reset()
                pasted = pasted_samples(samples, canvas_size, scale, seed, backgrounds)
                summary = evaluate_predictor(predictor, pasted).summary()
                rows.append({"backend": backend, "tiles": str(policy), "scale": float(scale),
                             "hand_px": median_hand_size(samples, scale), **summary})
    return rows, unavailable


def plot(rows: Sequence[dict[str, Any]], path: str | Path, title: str) -> Path:
    """Recall against the median hand size (pixels, log axis), one line per (backend, tiles)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key in dict.fromkeys((r["backend"], r.get("tiles", "off")) for r in rows):
        pts = sorted((r["hand_px"], r["recall"]) for r in rows if (r["backend"], r.get("tiles", "off")) == key)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{key[0]}, tiles {key[1]}")
    ax.set_xscale("log")
    ax.set_xlabel("hand size in the frame (px, larger box side)")
    ax.set_ylabel("recall")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def table(rows: Sequence[dict[str, Any]], canvas_size: tuple[int, int], net_input: int) -> str:
    """Markdown table of :func:`run`'s rows (PCK change relative to the first scale of the same
    backend and tiles policy)."""
    net_factor = net_input / max(canvas_size)

    def fmt(v, spec):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    first_pck: dict[tuple[str, str], float | None] = {}
    cells = []
    for r in rows:
        key = (r["backend"], r.get("tiles", "off"))
        first_pck.setdefault(key, r["pck@0.2"])
        base = first_pck[key]
        delta = None if base is None or r["pck@0.2"] is None else r["pck@0.2"] - base
        cells.append([
            r["backend"], key[1], f"{r['scale']:g}", fmt(r["hand_px"], ".0f"), fmt(r["hand_px"] * net_factor, ".0f"),
            fmt(r["recall"], ".2f"), fmt(r["precision"], ".2f"), fmt(r["pck@0.2"], ".3f"), fmt(delta, "+.3f"),
            fmt(r["rr_mpjpe_mm"], ".1f"), fmt(r["pa_mpjpe_mm"], ".1f"), fmt(r["depth_error_pct"], ".1f"),
            fmt(r["median_ms"], ".0f"),
        ])
    header = ["backend", "tiles", "scale", "hand px", f"at net {net_input}", "recall", "precision", "PCK@0.2", "PCK change",
              "RR-MPJPE mm", "PA-MPJPE mm", "depth err %", "ms/image"]
    return markdown_table(header, cells, align="lllrrrrrrrrrr")


def main(
    out: Path = typer.Option(Path("output/bench/hand_scale"), help="Folder for hand_scale.md / .json."),
    backends: str = typer.Option("single_stage,two_stage", help="Comma-separated backends."),
    subset: str = typer.Option("ge_realworld", help="A validation or annotated subset with K (ge_realworld, rhd)."),
    data: Path = typer.Option(None, help="The shared data folder [default: ../shared/data]."),
    canvas: str = typer.Option("x".join(map(str, DEFAULT_CANVAS)), help="Canvas WIDTHxHEIGHT in pixels."),
    scales: str = typer.Option(",".join(f"{s:g}" for s in DEFAULT_SCALES), help="Comma-separated frame scales."),
    seed: int = typer.Option(0, help="Seed of the paste positions."),
    device: str = typer.Option("cpu", help="auto, cpu, cuda or cuda:N."),
    weights: Path = typer.Option(None, help="single_stage weights file [default: the shipped weights]."),
    net_input: int = typer.Option(256, help="Network input side for the 'at net' column."),
    limit: int = typer.Option(0, min=0, help="Use only the first N frames (0 = all)."),
    stride: int = typer.Option(1, min=1, help="Use every N-th frame."),
    tiles: str = typer.Option("off", help="Comma-separated tiles policies to compare (off, auto, CxR)."),
    backgrounds: str = typer.Option("", help="Comma-separated photos under the data folder to paste into, "
                                    "'default' for DEFAULT_BACKGROUNDS; empty = grey."),
) -> None:
    """Recall, PCK@0.2 and 3D errors of each backend on real frames pasted small into a larger canvas."""
    from hand_mesh_core.evaluation.benchmark import read_subset
    from hand_mesh_core.paths import find_shared_data

    data = data if data is not None else find_shared_data()
    if data is None or not Path(data).is_dir():
        typer.echo("error: ../shared/data not found; pass --data", err=True)
        raise typer.Exit(2)
    try:
        cw, ch = (int(v) for v in canvas.lower().split("x"))
        scale_list = [float(s) for s in scales.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"--canvas WIDTHxHEIGHT and --scales numbers, got {canvas!r}, {scales!r}") from None
    if weights is not None and not weights.is_file():
        typer.echo(f"error: --weights: no such file: {weights}", err=True)
        raise typer.Exit(2)
    try:
        reader = read_subset(subset, Path(data) / "annotated", Path(data) / "validation")
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    indices = list(range(0, len(reader), stride))
    samples = [reader[i] for i in (indices if limit == 0 else indices[:limit])]
    from hand_mesh_core.media import load_rgb

    names = list(DEFAULT_BACKGROUNDS) if backgrounds == "default" else [b for b in backgrounds.split(",") if b]
    try:
        photos = [fit_background(load_rgb(Path(data) / n), (cw, ch)) for n in names]
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: background: {e}", err=True)
        raise typer.Exit(2) from e
    per_backend = {"single_stage": {"weights": weights}} if weights is not None else None
    policies = [t.strip() for t in tiles.split(",") if t.strip()] or ["off"]
    rows, unavailable = run([b for b in backends.split(",") if b], samples, (cw, ch), scale_list, seed,
                            {"device": device}, per_backend, policies, photos)
    where = f"{len(photos)} real photos ({', '.join(Path(n).name for n in names)})" if photos else "a grey canvas"
    text = (f"Hands of every size: {len(samples)} frames of {subset} pasted into {cw}x{ch} {where} "
            f"(K adjusted), seed {seed}\n\n" + table(rows, (cw, ch), net_input) + "\n")
    for backend, reason in unavailable.items():
        text += f"\n`{backend}`: unavailable ({reason})\n"
    typer.echo(text)
    md, js = write_report(out, "hand_scale", text, {"subset": subset, "canvas": [cw, ch], "scales": scale_list,
                                                   "seed": seed, "weights": str(weights) if weights else None,
                                                   "tiles": policies, "backgrounds": names,
                                                   "rows": rows, "unavailable": unavailable,
                                                   "machine": machine_meta(device)})
    png = plot(rows, Path(out) / "hand_scale.png", f"{subset} in {cw}x{ch} ({'photos' if photos else 'grey'})") if rows else None
    typer.echo(f"written: {md}, {js}" + (f", {png}" if png else ""))


if __name__ == "__main__":
    typer.run(main)
