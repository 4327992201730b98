"""``hand-mesh export``: the single-stage network as ONNX (and optionally a TensorRT engine).

Mirrors :func:`hand_mesh_core.single_stage.runtimes.onnx_export.export_onnx`. After writing, the model
is run once with ONNX Runtime (CPU) on a real image when ``../shared/data/images`` is
there (random input otherwise) and the largest difference from PyTorch is printed; a
difference above ``--tolerance`` is an error. ``--tensorrt`` also builds the TensorRT
engine into its cache (needs TensorRT and a GPU), so that the first run of a robot does
not wait for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def _check_input(size: int):
    """A letterboxed real image as ``[1, 3, S, S]`` when the shared data exists, else noise."""
    import numpy as np
    import torch

    from hand_mesh_core.media import list_images, load_rgb
    from hand_mesh_core.network.letterbox import letterbox_image
    from hand_mesh_core.paths import find_shared_data

    shared = find_shared_data()
    images = list_images(shared / "images") if shared is not None and (shared / "images").is_dir() else []
    if images:
        canvas, _ = letterbox_image(load_rgb(images[0]), size)
        return torch.from_numpy(np.ascontiguousarray(canvas)).permute(2, 0, 1)[None].float() / 255.0, images[0].name
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)), "random input"


def export(
    weights: Optional[Path] = typer.Argument(None, help="Weights file (.safetensors) [default: the shipped weights]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="ONNX file to write [default: <weights stem>.onnx]."),
    opset: int = typer.Option(17, min=17, help="ONNX opset (>= 17)."),
    tolerance: float = typer.Option(1e-3, help="Largest accepted |ONNX Runtime - PyTorch| on the check input."),
    tensorrt: bool = typer.Option(False, "--tensorrt", help="Also build the TensorRT engine into its cache (GPU)."),
    device: str = typer.Option("cuda", help="GPU for --tensorrt (cuda or cuda:N)."),
    fp16: bool = typer.Option(True, help="fp16 TensorRT engine (--tensorrt)."),
) -> None:
    """Export the network with dense, decoding-friendly outputs (centre, handedness, params)."""
    from hand_mesh_core.network.model import SingleStageNet
    from hand_mesh_core.single_stage.backend import DEFAULT_WEIGHTS
    from hand_mesh_core.single_stage.runtimes.artefact_cache import file_sha256
    from hand_mesh_core.single_stage.runtimes.onnx_export import export_onnx, max_abs_difference, read_onnx_info
    from hand_mesh_core.single_stage.runtimes.onnxruntime_engine import OnnxRuntimeEngine

    weights = weights or DEFAULT_WEIGHTS
    if not weights.is_file():
        typer.echo(f"error: weights file not found: {weights}", err=True)
        raise typer.Exit(2)
    out = out or weights.with_suffix(".onnx")
    try:
        net = SingleStageNet.load(weights).eval()
        export_onnx(net, out, opset=opset, weights_sha256=file_sha256(weights))
    except ValueError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    info = read_onnx_info(out)
    x, source = _check_input(info.input_size)
    diff = max_abs_difference(net, OnnxRuntimeEngine(out, device="cpu")(x), x)
    typer.echo(f"wrote {out} (opset {info.opset}, input [B, 3, {info.input_size}, {info.input_size}], "
               f"{out.stat().st_size / 1e6:.1f} MB)")
    typer.echo("max |onnxruntime - torch| on " + source + ": "
               + ", ".join(f"{k} {v:.2e}" for k, v in diff.items()))
    if max(diff.values()) > tolerance:
        typer.echo(f"error: difference above the tolerance {tolerance}", err=True)
        raise typer.Exit(1)
    if tensorrt:
        from hand_mesh_core.single_stage.runtimes.tensorrt_engine import TensorRTEngine

        try:
            engine = TensorRTEngine(out, device=device, fp16=fp16)
        except (RuntimeError, ValueError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
        typer.echo(f"TensorRT engine ({engine.precision}): {engine.engine_path}"
                   f"{' (built)' if engine.built else ' (already cached)'}")
