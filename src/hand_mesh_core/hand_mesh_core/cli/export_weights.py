"""``hand-mesh export-weights``: a training checkpoint -> compact safetensors weights.

Mirrors :func:`hand_mesh_core.training.export.export_checkpoint`; the file is what
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
) -> None:
    """Write the network of CHECKPOINT (weights + its network config) to OUT."""
    from hand_mesh_core.training.export import export_checkpoint

    try:
        path = export_checkpoint(checkpoint, out, fp16=fp16, operating_threshold=operating_threshold)
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
