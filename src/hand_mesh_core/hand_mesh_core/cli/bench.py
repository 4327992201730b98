"""``hand-mesh bench``: single-stage (per runtime) vs two-stage latency by number of hands.

Mirrors :func:`hand_mesh_core.bench.pipelines.run_bench`; prints the Markdown table and
writes ``bench.md``, ``bench.json``, ``bench.png`` (latency vs hands) and ``frames.png``
(the composed frames) to ``--out``. Not a test: run it on a quiet machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError as e:
        raise typer.BadParameter(f"expected comma-separated integers, got {value!r}") from e


def _pair(value: str, option: str) -> tuple[int, int]:
    """``"AxB"`` -> ``(A, B)``; ``typer.BadParameter`` naming ``option`` otherwise."""
    try:
        a, b = (int(v) for v in value.lower().split("x"))
    except ValueError as e:
        raise typer.BadParameter(f"expected AxB (two integers), got {value!r}", param_hint=option) from e
    return a, b


def bench(
    out: Path = typer.Option(Path("output/bench"), "--out", help="Output folder."),
    runtimes: str = typer.Option("torch,onnxruntime,tensorrt", help="Single-stage runtimes, comma-separated."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto (single-stage; two-stage runs on the CPU)."),
    counts: str = typer.Option("1,2,4,8", help="Hands per frame, comma-separated (1..8)."),
    repeats: int = typer.Option(20, min=1, help="Timed runs per frame."),
    warmup: int = typer.Option(3, min=0, help="Untimed runs per frame first."),
    weights: Optional[Path] = typer.Option(None, help="Single-stage weights [default: shipped, else untrained]."),
    images: Optional[Path] = typer.Option(None, help="Photos with hands [default: ../shared/data/images]."),
    frame_size: str = typer.Option("1280x960", help="Frame size WIDTHxHEIGHT."),
    grid: str = typer.Option("2x2", help="Cells of whole photos per frame, COLUMNSxROWS."),
    two_stage: bool = typer.Option(True, help="Also measure the two_stage pipeline."),
    two_stage_threshold: float = typer.Option(0.5, min=0.0, max=1.0, help="score_threshold of the two_stage "
                                              "pipeline (MediaPipe's detection/presence threshold), also used to "
                                              "compose and check the frames."),
    omp_wait_policy: str = typer.Option("PASSIVE", help="OMP_WAIT_POLICY of the measured processes: "
                                        "PASSIVE, ACTIVE or inherit."),
    profile: bool = typer.Option(True, help="Add the stage profile of the single-stage network (CPU)."),
    photos: bool = typer.Option(True, help="Also measure on the source photos with the hands MediaPipe finds."),
) -> None:
    """Per-frame latency (median, p95), throughput and peak memory on real frames with 1-8 hands."""
    from hand_mesh_core.bench.pipelines import run_bench

    size, cells = _pair(frame_size, "--frame-size"), _pair(grid, "--grid")
    try:
        result = run_bench(
            out, images=images, runtimes=[r.strip() for r in runtimes.split(",") if r.strip()], device=device,
            counts=_ints(counts), repeats=repeats, warmup=warmup, weights=weights, two_stage=two_stage,
            two_stage_threshold=two_stage_threshold, frame_size=size, grid=cells, omp_wait_policy=omp_wait_policy,
            profile=profile, photos=photos, log=lambda line: typer.echo(line, err=True),
        )
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(result.to_markdown())
    typer.echo(f"written: {out / 'bench.md'}, {out / 'bench.json'}, {out / 'bench.png'}, {out / 'frames.png'}")
