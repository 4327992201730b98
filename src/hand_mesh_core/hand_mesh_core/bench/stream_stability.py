"""Identity and jitter of hands over a real video, without and with One-Euro smoothing.

Run: ``python -m hand_mesh_core.bench.stream_stability --out output/bench`` (default video
``../shared/data/video/mmaction2_demo.mp4``, backend ``two_stage``). Prints a Markdown table
and writes ``stream_stability.md`` and ``.json`` to ``--out`` (:mod:`.report`).

The backend runs once over the frames in stream mode (``video=True``, timestamps from the
video) without smoothing; the recorded hands are then smoothed with each setting by the
same :class:`~hand_mesh_core.smoothing.HandSmoother` the predictor uses (tracking and the
two_stage warm starts do not depend on smoothing, so this equals running the predictor
with ``smoothing=True`` per setting, at the cost of one pass).

Per setting, over every pair (triple) of consecutive frames in which one track is seen:

* ``disp px`` / ``disp mm``: frame-to-frame displacement of the wrist in the image
  (pixels) and in 3D (millimetres, optical frame): motion plus jitter;
* ``acc px`` / ``acc mm``: the second difference ``|w[t+1] - 2 w[t] + w[t-1]|``, which a
  smooth motion keeps small and frame-to-frame noise does not (a jitter measure that
  does not count steady motion);

as median and 95th percentile. Identity: number of track ids, frames per track (mean),
and ``kept``, the share of hands whose id was also in the previous frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer

from hand_mesh_core.bench.report import cpu_name, markdown_table, percentile, write_report

#: Smoothing settings measured by default: (min_cutoff Hz, beta Hz per m/s).
SETTINGS = ((1.0, 20.0), (0.5, 20.0), (1.0, 0.0))


def record(video: Path, backend: str = "two_stage", frames: int = 120, **options: Any) -> dict[str, Any]:
    """Run ``backend`` in stream mode over the first ``frames`` frames of ``video``.

    Returns ``{"frames": [(timestamp s, K, (W, H), [HandResult])], "hand_models": ...,
    "backend": ..., "fps": ...}`` (raw, unsmoothed hands).
    """
    from hand_mesh_core.camera import intrinsics_from_fov
    from hand_mesh_core.media import FrameSource
    from hand_mesh_core.backends import create_predictor

    if frames < 3:
        raise ValueError(f"frames must be >= 3, got {frames}")
    predictor = create_predictor(backend, video=True, **options)
    source = FrameSource(video)
    out = []
    for frame in source:
        if frame.index >= frames:
            break
        height, width = frame.rgb.shape[:2]
        K = intrinsics_from_fov(width, height)
        pred = predictor.predict(frame.rgb, K, timestamp=frame.time)
        out.append((frame.time, K, (width, height), list(pred)))
    return {"frames": out, "hand_models": predictor.hand_models, "backend": backend, "fps": source.fps}


def smooth(recorded: dict[str, Any], min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> list[list]:
    """The recorded hands of every frame after :class:`HandSmoother` with these parameters."""
    from hand_mesh_core.smoothing import HandSmoother, SmoothingSettings

    smoother = HandSmoother(SmoothingSettings(min_cutoff, beta, d_cutoff))
    return [smoother(hands, K, size, recorded["hand_models"], t) for t, K, size, hands in recorded["frames"]]


def stability(frames: list[list]) -> dict[str, float]:
    """Jitter and identity figures (module docstring) of per-frame hand lists."""
    tracks: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    kept = total = 0
    previous: set[int] = set()
    for index, hands in enumerate(frames):
        ids = {h.track_id for h in hands}
        for h in hands:
            tracks.setdefault(h.track_id, {})[index] = (h.keypoints_2d[0].astype(np.float64),
                                                        h.keypoints_3d[0].astype(np.float64) * 1000.0)
            total += index > 0
            kept += index > 0 and h.track_id in previous
        previous = ids
    disp2, disp3, acc2, acc3 = [], [], [], []
    for seen in tracks.values():
        for i, (uv, xyz) in seen.items():
            if i + 1 in seen:
                disp2.append(np.linalg.norm(seen[i + 1][0] - uv))
                disp3.append(np.linalg.norm(seen[i + 1][1] - xyz))
                if i - 1 in seen:
                    acc2.append(np.linalg.norm(seen[i + 1][0] - 2 * uv + seen[i - 1][0]))
                    acc3.append(np.linalg.norm(seen[i + 1][1] - 2 * xyz + seen[i - 1][1]))

    def stats(values: list[float]) -> tuple[float, float]:
        return (float(np.median(values)), percentile(values, 95)) if values else (float("nan"),) * 2

    row = {"hands": sum(len(h) for h in frames), "tracks": len(tracks),
           "frames_per_track": float(np.mean([len(s) for s in tracks.values()])) if tracks else 0.0,
           "kept": kept / total if total else float("nan"), "pairs": len(disp2)}
    for name, values in (("disp_px", disp2), ("disp_mm", disp3), ("acc_px", acc2), ("acc_mm", acc3)):
        row[name], row[name + "_p95"] = stats(values)
    return row


def run(video: Path, backend: str = "two_stage", frames: int = 120,
        settings: tuple[tuple[float, float], ...] = SETTINGS, **options: Any) -> list[dict[str, Any]]:
    """One row per setting: ``raw`` (no smoothing) then each ``(min_cutoff, beta)``."""
    recorded = record(video, backend, frames, **options)
    rows = [{"setting": "raw", **stability([hands for *_, hands in recorded["frames"]])}]
    for min_cutoff, beta in settings:
        rows.append({"setting": f"min_cutoff {min_cutoff:g} Hz, beta {beta:g}",
                     **stability(smooth(recorded, min_cutoff, beta))})
    return rows


def table(rows: list[dict[str, Any]], header: str) -> str:
    """Markdown table of :func:`run`'s rows under a one-line ``header``."""
    columns = ["smoothing", "hands", "tracks", "frames/track", "kept", "disp px (med / p95)",
               "disp mm (med / p95)", "acc px (med / p95)", "acc mm (med / p95)"]
    cells = [[r["setting"], r["hands"], r["tracks"], f"{r['frames_per_track']:.1f}", f"{r['kept']:.3f}",
              *(f"{r[k]:.2f} / {r[k + '_p95']:.2f}" for k in ("disp_px", "disp_mm", "acc_px", "acc_mm"))]
             for r in rows]
    return header + "\n\n" + markdown_table(columns, cells, align="lrrrrrrrr") + "\n"


def main(
    video: Path = typer.Option(None, help="Video file; default ../shared/data/video/mmaction2_demo.mp4."),
    out: Path = typer.Option(Path("output/bench"), help="Folder for stream_stability.md and .json."),
    backend: str = typer.Option("two_stage", help="two_stage or single_stage."),
    frames: int = typer.Option(120, min=3, help="Frames from the start of the video."),
    settings: str = typer.Option(",".join(f"{c:g}:{b:g}" for c, b in SETTINGS),
                                 help="Comma-separated min_cutoff:beta pairs (Hz, Hz per m/s)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Measure track identity and wrist jitter over a video, raw and smoothed."""
    from hand_mesh_core.paths import find_shared_data

    try:
        pairs = tuple(tuple(float(v) for v in s.split(":")) for s in settings.split(",") if s)
        if any(len(p) != 2 for p in pairs):
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"settings must be min_cutoff:beta pairs, got {settings!r}") from None
    if video is None:
        data = find_shared_data()
        if data is None:
            raise typer.BadParameter("no --video given and ../shared/data not found")
        video = data / "video" / "mmaction2_demo.mp4"
    rows = run(video, backend, frames, pairs, device=device)
    header = (f"Stream stability: {backend} on {video.name}, first {frames} frames, video timestamps, "
              f"default 60 deg FOV ({cpu_name()})")
    text = table(rows, header)
    typer.echo(text)
    write_report(out, "stream_stability", text, {"video": str(video), "backend": backend, "frames": frames,
                                                 "rows": rows})


if __name__ == "__main__":
    typer.run(main)
