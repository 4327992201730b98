"""``hand-mesh export-weights``: a training checkpoint -> compact safetensors weights.

Mirrors :func:`hand_mesh_core.training.weights_export.export_checkpoint`; the file is what
``create_predictor("single_stage", weights=...)`` loads (fp16 by default).
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("export-weights")(export_weights)


def export_weights(
    checkpoint: Path = typer.Argument(..., exists=True, dir_okay=False, help="Lightning checkpoint (.ckpt)."),
    out: Path = typer.Argument(..., help="Output .safetensors file."),
    fp16: bool = typer.Option(True, help="Store floating-point tensors in half precision."),
    operating_threshold: float = typer.Option(
        None, "--operating-threshold", min=0.0, max=1.0,
        help="Calibrated detection threshold of this network, folded into the centre head so that "
             "the default score_threshold 0.5 finds the hands this threshold found."),
    calibrate_on: Path = typer.Option(
        None, "--calibrate-on", file_okay=False,
        help="Pseudo-label dataset (hand-mesh pseudo-label) on which to choose the operating threshold "
             "(highest detection F1) and fold it in; the sweep is written to OUT.calibration.md."),
    calibrate_images: int = typer.Option(150, min=10, help="Images of --calibrate-on used (evenly spaced)."),
    decoding: list[str] = typer.Option(
        [], "--decoding",
        help="KEY=VALUE override of the network config's decoding section written into OUT, repeatable "
             "(e.g. keypoint_refinement.enabled=true)."),
) -> None:
    """Write the network of CHECKPOINT (weights + its network config) to OUT."""
    from hand_mesh_core.training.weights_export import export_checkpoint

    if calibrate_on is not None and operating_threshold is not None:
        raise typer.BadParameter("give --operating-threshold or --calibrate-on, not both")
    try:
        if calibrate_on is not None:
            operating_threshold = _calibrate(checkpoint, out, calibrate_on, calibrate_images)
        path = export_checkpoint(checkpoint, out, fp16=fp16, operating_threshold=operating_threshold, decoding=decoding)
    except (ValueError, FileNotFoundError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def _calibrate(checkpoint: Path, out: Path, pseudo: Path, images: int) -> float:
    """Sweep detection thresholds of CHECKPOINT's network on ``images`` of ``pseudo``."""
    import tempfile

    from hand_mesh_core.data.readers.pseudo_labels import PseudoLabelReader
    from hand_mesh_core.evaluation.calibration import sweep_thresholds
    from hand_mesh_core.backends import create_predictor
    from hand_mesh_core.training.weights_export import export_checkpoint

    reader = PseudoLabelReader(pseudo)
    step = max(1, len(reader) // images)
    samples = [reader[i] for i in range(0, len(reader), step)][:images]
    with tempfile.TemporaryDirectory() as tmp:
        plain = export_checkpoint(checkpoint, Path(tmp) / "plain.safetensors", fp16=True)
        predictor = create_predictor("single_stage", weights=plain, device="cpu", score_threshold=0.0, max_hands=8)
        sweep = sweep_thresholds(predictor, samples, complete_labels=True)
    table = (f"Operating threshold of {checkpoint.name} on {len(samples)} images of {pseudo} "
             "(the teacher's hands taken as all the hands: precision is a lower bound where it missed some)\n\n" + sweep.to_markdown())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".calibration.md").write_text(table)
    typer.echo(table)
    return sweep.best
