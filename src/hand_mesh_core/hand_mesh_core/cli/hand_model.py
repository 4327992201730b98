"""``hand-mesh hand-model``: build the open hand model, render its contact sheet.

* ``hand-mesh hand-model build [--glb right.glb --licence LICENSE.md] [--out DIR]``:
  run the converter (:mod:`hand_mesh_core.hand_model.build_open_model`); without ``--glb``
  it downloads the pinned npm package with ``npm pack`` into a temporary folder.
* ``hand-mesh hand-model sheet --out sheet.png [--backend mano --model-path DIR]``: both
  hands in 6 poses x 3 shapes (:func:`hand_mesh_core.bench.hand_model_sheet.render_model_sheet`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

hand_model_app = typer.Typer(help="Build the open hand model; render its contact sheet.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(hand_model_app, name="hand-model")


@hand_model_app.command("build")
def build(
    out: Optional[Path] = typer.Option(None, help="Output folder (default: the package's assets/hand_model)."),
    glb: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                       help="Local generic-hand right.glb instead of npm."),
    licence: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                           help="The npm package's LICENSE.md (with --glb)."),
) -> None:
    """Convert the MIT WebXR generic hand into open_hand_{right,left}.npz (deterministic)."""
    from hand_mesh_core.hand_model.build_open_model import build as build_model
    from hand_mesh_core.hand_model.open_model import OPEN_MODEL_DIR

    if licence is not None and glb is None:
        raise typer.BadParameter("--licence goes with --glb")
    try:
        report = build_model(out or OPEN_MODEL_DIR, glb_path=glb, licence_path=licence)
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"written to {out or OPEN_MODEL_DIR}: joint regression error max "
               f"{report.joint_errors_mm.max():.2f} mm, hand length {report.hand_length_m * 1000:.1f} mm")


@hand_model_app.command("sheet")
def sheet(
    out: Path = typer.Option(Path("output/hand_model_sheet.png"), help="PNG to write."),
    backend: str = typer.Option("open", help="open or mano."),
    model_path: Optional[Path] = typer.Option(None, help="MANO folder (backend mano)."),
    cell: int = typer.Option(220, min=64, help="Cell size, pixels."),
) -> None:
    """Render both hands in 6 poses x 3 shapes (mean, child, large) to a PNG."""
    import cv2

    from hand_mesh_core.bench.hand_model_sheet import SHEET_SHAPES, render_model_sheet

    shapes = SHEET_SHAPES if backend == "open" else {"mean": {}}
    image = render_model_sheet(backend, model_path, shapes=shapes, cell=cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image[..., ::-1]):
        raise typer.BadParameter(f"cannot write {out}")
    typer.echo(f"{out} ({image.shape[1]}x{image.shape[0]})")
