"""Forward time of ``HandModel`` on this machine, per batch size and mode.

Run: ``python -m hand_mesh_core.bench.hand_model_forward --out output/bench/hand_model_forward.md``
(``--dtype float64 --threads 1 --batches 1,62,128`` gives the two-stage fit's setting: it
runs the model in float64 on one thread; 62 = one hand and its 61 parameter copies, the
batch a forward-difference Jacobian needs). Prints a Markdown table and writes it to ``--out``.

Rows per batch size (random shapes and poses of about 0.4 rad per joint):

* ``mesh``: ``forward()`` with vertices (what the node and the decoder call per frame);
* ``keypoints``: ``forward(compute_vertices=False)`` (joints + 21 keypoints);
* ``keypoints fwd+bwd``: the same plus ``backward()`` of a keypoint loss to all inputs
  (one first-order solver iteration's model cost);
* ``keypoints + Jacobian``: ``keypoints_with_jacobian()``, the keypoints and their exact
  ``[21 x 3, 61]`` Jacobian per hand (what the fit's Levenberg-Marquardt solver uses).

Times are medians over ``--repeats`` samples (each of enough calls to last about 2 ms)
after ``--warmup`` calls, with
``torch.set_num_threads(--threads)`` (default 2, the CI machine's cores): wall time and the
calling thread's CPU time (``time.thread_time``; on a machine shared with other jobs the
CPU time is the steadier figure, since waiting for a core does not count).
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import typer

from hand_mesh_core.bench.report import markdown_table

BATCHES = (1, 16, 128)


def _median_ms(fn, repeats: int, warmup: int, sample_ms: float = 2.0) -> tuple[float, float]:
    """``(wall, cpu)`` median milliseconds of one ``fn()`` call.

    Each of the ``repeats`` samples times enough back-to-back calls to last about
    ``sample_ms`` (sub-millisecond calls are otherwise at the mercy of timer granularity
    and of single preemptions).
    """
    start = time.perf_counter()
    for _ in range(max(warmup, 1)):
        fn()
    per_call = (time.perf_counter() - start) * 1000.0 / max(warmup, 1)
    calls = max(1, int(sample_ms / max(per_call, 1e-6)))
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        for _ in range(calls):
            fn()
        wall.append((time.perf_counter() - start) * 1000.0 / calls)
        cpu.append((time.thread_time() - start_cpu) * 1000.0 / calls)
    return statistics.median(wall), statistics.median(cpu)


def run(backend: str = "open", device: str = "cpu", threads: int = 2, repeats: int = 30,
        warmup: int = 5, batches: tuple[int, ...] = BATCHES,
        dtype: str = "float32") -> list[dict[str, float | int | str]]:
    """Measure and return one row per (batch, mode): batch, mode, ms, cpu_ms, ms per hand.

    Raises:
        ValueError: unknown ``dtype``.
    """
    import torch

    from hand_mesh_core.hand_model import HandModel

    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    dt = dtypes[dtype]
    torch.set_num_threads(threads)
    model = HandModel("right", backend, dtype=dt).to(device)
    rows = []
    for batch in batches:
        g = torch.Generator().manual_seed(batch)
        params = {
            "betas": torch.randn(batch, model.num_betas, generator=g, dtype=dt),
            "global_orient": torch.randn(batch, 3, generator=g, dtype=dt),
            "hand_pose": 0.4 * torch.randn(batch, 45, generator=g, dtype=dt),
            "transl": torch.randn(batch, 3, generator=g, dtype=dt),
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

        def keypoints_jacobian():
            with torch.inference_mode():
                model.keypoints_with_jacobian(**params)
            sync()

        modes = [("mesh", mesh), ("keypoints", keypoints), ("keypoints fwd+bwd", keypoints_backward)]
        if hasattr(model, "keypoints_with_jacobian"):  # absent from older versions (A/B runs)
            modes.append(("keypoints + Jacobian", keypoints_jacobian))
        for mode, fn in modes:
            ms, cpu_ms = _median_ms(fn, repeats, warmup)
            rows.append({"batch": batch, "mode": mode, "ms": ms, "cpu_ms": cpu_ms, "ms_per_hand": ms / batch})
    return rows


def table(rows, header: str) -> str:
    """Markdown table of :func:`run`'s rows under a one-line ``header``."""
    cells = [[r["batch"], r["mode"], f"{r['ms']:.3f}", f"{r['cpu_ms']:.3f}", f"{r['ms_per_hand']:.4f}"] for r in rows]
    text = markdown_table(["batch", "mode", "time (ms)", "CPU time (ms)", "per hand (ms)"], cells, align="rlrrr")
    return "\n".join([header, "", text]) + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/hand_model_forward.md"), help="Markdown file to write."),
    backend: str = typer.Option("open", help="open or mano (MANO via $HAND_MESH_MANO_DIR)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
    repeats: int = typer.Option(30, min=1),
    warmup: int = typer.Option(5, min=0),
    batches: str = typer.Option(",".join(map(str, BATCHES)), help="Comma-separated batch sizes."),
    dtype: str = typer.Option("float32", help="float32 or float64 (the two-stage fit's)."),
) -> None:
    """Benchmark HandModel.forward (and the keypoint Jacobian) per batch size."""
    import torch

    try:
        sizes = tuple(int(b) for b in batches.split(","))
    except ValueError:
        raise typer.BadParameter(f"batches must be comma-separated integers, got {batches!r}") from None
    if not sizes or min(sizes) < 1:
        raise typer.BadParameter(f"batch sizes must be >= 1, got {batches!r}")
    rows = run(backend, device, threads, repeats, warmup, sizes, dtype)
    where = torch.cuda.get_device_name(0) if device.startswith("cuda") else (platform.processor() or platform.machine())
    header = (f"HandModel forward ({backend} model, {dtype}, {device}: {where}, {threads} threads, "
              f"torch {torch.__version__}, median of {repeats})")
    text = table(rows, header)
    typer.echo(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    typer.run(main)
