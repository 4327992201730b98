"""``hand-mesh info``: versions, compute devices and the files the library would load."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def info() -> None:
    """Print library version, torch build and device, and the shared data location."""
    import platform

    import torch

    from hand_mesh_core import __version__
    from hand_mesh_core.paths import ASSETS_DIR, find_shared_data

    rows = {
        "hand_mesh_core": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda available": str(torch.cuda.is_available()),
        "cuda device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-",
        "cpu threads": str(torch.get_num_threads()),
        "assets": str(ASSETS_DIR),
        "shared data": str(find_shared_data() or "not found"),
    }
    width = max(map(len, rows))
    for k, v in rows.items():
        typer.echo(f"{k:<{width}}  {v}")
