"""Forward time of ``HandModel`` on this machine: batch 1, 16, 128, float32.

Run: ``python -m hand_mesh_core.bench.hand_model_forward --out output/bench/hand_model_forward.md``.
Prints a Markdown table and writes it to ``--out``.

Rows per batch size (random shapes and poses of about 0.4 rad per joint):

* ``mesh``: ``forward()`` with vertices (what the node and the decoder call per frame);
* ``keypoints``: ``forward(compute_vertices=False)`` (joints + 21 keypoints, what the
  fitting calls in its solver loop);
* ``keypoints fwd+bwd``: the same plus ``backward()`` of a keypoint loss to all inputs
  (one solver iteration's model cost).

Times are the median over ``--repeats`` runs after ``--warmup`` runs, with
``torch.set_num_threads(--threads)`` (default 2, the CI machine's cores).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import typer

BATCHES = (1, 16, 128)


def _median_ms(fn, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def run(backend: str = "open", device: str = "cpu", threads: int = 2, repeats: int = 30,
        warmup: int = 5) -> list[dict[str, float | int | str]]:
    """Measure and return one row per (batch, mode): batch, mode, ms, ms per hand."""
    import torch

    from hand_mesh_core.hand_model import HandModel

    torch.set_num_threads(threads)
    model = HandModel("right", backend).to(device)
    rows = []
    for batch in BATCHES:
        g = torch.Generator().manual_seed(batch)
        params = {
            "betas": torch.randn(batch, model.num_betas, generator=g),
            "global_orient": torch.randn(batch, 3, generator=g),
            "hand_pose": 0.4 * torch.randn(batch, 45, generator=g),
            "transl": torch.randn(batch, 3, generator=g),
        }
        params = {k: v.to(device) for k, v in params.items()}
        sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

        def mesh():
            with torch.no_grad():
                model(**params)
            sync()

        def keypoints():
            with torch.no_grad():
                model(**params, compute_vertices=False)
            sync()

        grads = {k: v.clone().requires_grad_() for k, v in params.items()}

        def keypoints_backward():
            out = model(**grads, compute_vertices=False)
            out.keypoints.square().sum().backward()
            sync()

        for mode, fn in (("mesh", mesh), ("keypoints", keypoints), ("keypoints fwd+bwd", keypoints_backward)):
            ms = _median_ms(fn, repeats, warmup)
            rows.append({"batch": batch, "mode": mode, "ms": ms, "ms_per_hand": ms / batch})
    return rows


def table(rows, header: str) -> str:
    """Markdown table of :func:`run`'s rows under a one-line ``header``."""
    lines = [header, "", "| batch | mode | time (ms) | per hand (ms) |", "|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['mode']} | {r['ms']:.3f} | {r['ms_per_hand']:.4f} |")
    return "\n".join(lines) + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/hand_model_forward.md"), help="Markdown file to write."),
    backend: str = typer.Option("open", help="open or mano (MANO via $HAND_MESH_MANO_DIR)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
    repeats: int = typer.Option(30, min=1),
    warmup: int = typer.Option(5, min=0),
) -> None:
    """Benchmark HandModel.forward for batch 1, 16 and 128 (float32)."""
    import torch

    rows = run(backend, device, threads, repeats, warmup)
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else (platform.processor() or platform.machine())
    header = (f"HandModel forward ({backend} model, float32, {device}: {where}, {threads} threads, "
              f"torch {torch.__version__}, median of {repeats})")
    text = table(rows, header)
    typer.echo(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    typer.run(main)
