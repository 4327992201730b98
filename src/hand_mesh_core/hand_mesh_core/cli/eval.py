"""``hand-mesh eval``: accuracy of each backend on the labelled subsets, side by side.

Mirrors :func:`hand_mesh_core.evaluation.benchmark.run_benchmark`; prints a Markdown table
and writes it with the JSON scores to ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def eval_command(
    backends: str = typer.Option("single_stage,two_stage", "--backends", help="Comma-separated backends to compare."),
    data: Path = typer.Option(None, "--data", help="Folder of annotated subsets [default: ../shared/data/annotated]."),
    validation: Path = typer.Option(
        None, "--validation", help="Folder of the real validation subsets [default: ../shared/data/validation]."
    ),
    subsets: str = typer.Option(
        "", "--subsets", help="Comma-separated subsets (freihand,onehand10k,panoptic,rhd,ge_realworld) [default: all present]."
    ),
    out: Path = typer.Option(Path("output/eval"), "--out", help="Folder for eval.md and eval.json."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    weights: Path = typer.Option(None, "--weights", help="single_stage weights file [default: the shipped weights]."),
    keypoint_refinement: bool = typer.Option(
        None, "--keypoint-refinement/--no-keypoint-refinement",
        help="single_stage: refine hands to the keypoint heatmaps (networks with that head) [default: the weights' setting].",
    ),
) -> None:
    """Detection recall/precision, PCK@0.2, normalised 2D error and (RHD, ge_realworld) 3D errors per backend and subset."""
    from hand_mesh_core.evaluation.benchmark import run_benchmark
    from hand_mesh_core.paths import find_shared_data

    if data is None or validation is None:
        shared = find_shared_data()
        if shared is None and data is None:
            raise typer.BadParameter("../shared/data not found; pass --data", param_hint="--data")
        data = data if data is not None else shared / "annotated"
        if validation is None and shared is not None and (shared / "validation").is_dir():
            validation = shared / "validation"
    names = _split(backends)
    if not names:
        raise typer.BadParameter("give at least one backend", param_hint="--backends")
    try:
        if weights is not None and not weights.is_file():
            raise FileNotFoundError(f"--weights: no such file: {weights}")
        single_stage = {"weights": weights} if weights is not None else {}
        if keypoint_refinement is not None:
            single_stage["keypoint_refinement"] = keypoint_refinement
        per_backend = {"single_stage": single_stage} if single_stage else None
        result = run_benchmark(
            names, data, _split(subsets) or None, {"device": device}, per_backend, validation_root=validation
        )
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    out.mkdir(parents=True, exist_ok=True)
    table = result.to_markdown()
    (out / "eval.md").write_text(table)
    result.to_json(out / "eval.json")
    typer.echo(table)
    typer.echo(f"written: {out / 'eval.md'}, {out / 'eval.json'}")
