"""Throughput of the synthetic multi-hand generator (:mod:`hand_mesh_core.data.synthetic`).

Run: ``python -m hand_mesh_core.bench.synthetic_data --out output/bench/synthetic``.
Prints a Markdown table and writes it (``synthetic_data.md``) with the raw numbers
(``synthetic_data.json``) to ``--out``.

For each image size (``--sizes``) and background mode (photo crops from
``../shared/data/pool`` when present, and procedural textures only) it generates
``--images`` samples (indices 0..N-1, default hand-count distribution of 0-6 hands) through
a ``torch.utils.data.DataLoader`` with ``--workers`` worker processes (0 = in the calling
process) after one warm-up sample, and reports images per second, the mean number of
labelled hands, the median wall-clock milliseconds per image and (in process) the CPU
milliseconds per image, which other load on the machine does not inflate.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

import typer

from hand_mesh_core.bench.report import cpu_name, markdown_table, write_report


def measure(size: int, photos: bool, images: int, workers: int) -> dict[str, Any]:
    """Images per second, hands per image and median ms per image of one configuration."""
    import torch

    from hand_mesh_core.data.synthetic import SyntheticHands

    ds = SyntheticHands(length=images, image_size=(size, size), background_folders=None if photos else [])
    ds[0]  # warm-up: hand models, caches
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    per_image, hands = [], []
    t0 = time.perf_counter()
    c0 = time.process_time()
    last = t0
    for sample in loader:
        now = time.perf_counter()
        per_image.append((now - last) * 1000.0)
        last = now
        hands.append(len(sample.hands))
    total = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {
        "size": size,
        "backgrounds": "pool photos + procedural" if photos and ds.backgrounds.photos else "procedural",
        "workers": workers,
        "images": images,
        "images_per_s": images / total,
        "hands_per_image": sum(hands) / len(hands),
        "median_ms": statistics.median(per_image),
        # CPU time of this process per image: unaffected by other load on the machine
        # (with workers > 0 the work happens in the workers and this is not meaningful)
        "cpu_ms_per_image": cpu * 1000.0 / images if workers == 0 else None,
    }


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    header = ["size", "backgrounds", "workers", "images", "images/s", "hands/image", "median ms/image", "CPU ms/image"]
    cells = [[r["size"], r["backgrounds"], r["workers"], r["images"], f"{r['images_per_s']:.1f}",
              f"{r['hands_per_image']:.2f}", f"{r['median_ms']:.0f}",
              "-" if r["cpu_ms_per_image"] is None else f"{r['cpu_ms_per_image']:.0f}"] for r in rows]
    return markdown_table(header, cells, align="rlrrrrrr") + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/synthetic"), help="Folder for the table and raw numbers."),
    sizes: str = typer.Option("256,384", help="Comma-separated square image sizes."),
    images: int = typer.Option(60, min=1, help="Samples per configuration."),
    workers: int = typer.Option(0, min=0, help="DataLoader worker processes (0 = in process)."),
) -> None:
    """Measure the synthetic generator's images per second on this machine."""
    rows = [measure(int(s), photos, images, workers) for s in sizes.split(",") for photos in (True, False)]
    table = to_markdown(rows)
    meta = {"machine": cpu_name(), "python": platform.python_version()}
    write_report(out, "synthetic_data", table, {"meta": meta, "rows": rows})
    typer.echo(table)


if __name__ == "__main__":
    typer.run(main)
