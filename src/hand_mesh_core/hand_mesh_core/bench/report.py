"""What every benchmark script shares: timing loops, latency summaries, the machine, tables, files.

The scripts of :mod:`hand_mesh_core.bench` measure different things but report them the same
way: a Markdown table printed and written to ``<out>/<name>.md``, the raw numbers to
``<out>/<name>.json``, a description of the machine in the header. This module holds those
pieces once:

* :func:`time_calls` / :func:`median_ms`: wall-clock milliseconds of ``fn()`` after
  warm-up calls, optionally synchronising a device around each call (CUDA kernels run
  asynchronously; without a synchronisation the time is that of the launch only);
* :func:`latency_summary`: median, 95th percentile (NumPy's linear interpolation), mean,
  minimum and throughput (frames per second = 1000 / mean, one frame at a time);
* :func:`cpu_name`, :func:`machine_meta`: the CPU model (``/proc/cpuinfo``), torch version
  and threads, device and GPU name;
* :func:`markdown_table`, :func:`write_report`: GitHub-flavoured Markdown table text, and
  the ``.md`` + ``.json`` pair.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def device_sync(device: str) -> Callable[[], None]:
    """A function that waits for ``device``'s queued work: ``torch.cuda.synchronize`` for
    ``"cuda"`` / ``"cuda:N"``, a no-op otherwise."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def time_calls(
    fn: Callable[[], Any], repeats: int, warmup: int = 0, sync: Callable[[], None] | None = None
) -> list[float]:
    """Milliseconds of each of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls.

    ``sync`` (e.g. :func:`device_sync`) runs before the clock starts and before it stops.
    Raises ``ValueError`` for ``repeats < 1`` or ``warmup < 0``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    sync = sync or (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 2, sync: Callable[[], None] | None = None) -> float:
    """Median of :func:`time_calls` (milliseconds)."""
    return statistics.median(time_calls(fn, repeats, warmup, sync))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` (``numpy.percentile``, linear
    interpolation). Raises ``ValueError`` for no values or ``q`` outside [0, 100]."""
    if len(values) == 0:
        raise ValueError("no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got {q}")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def latency_summary(times_ms: Sequence[float]) -> dict[str, float]:
    """``{"median_ms", "p95_ms", "mean_ms", "min_ms", "fps"}`` of per-frame latencies (ms).

    ``fps`` = 1000 / mean: the throughput of one frame at a time. Raises ``ValueError`` for
    no values or a non-positive mean.
    """
    if len(times_ms) == 0:
        raise ValueError("no latencies")
    mean = statistics.fmean(times_ms)
    if mean <= 0:
        raise ValueError(f"latencies must be positive, mean {mean}")
    return {
        "median_ms": statistics.median(times_ms),
        "p95_ms": percentile(times_ms, 95),
        "mean_ms": mean,
        "min_ms": min(times_ms),
        "fps": 1000.0 / mean,
    }


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` ("model name"), else ``platform.processor()``
    or the machine architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_meta(device: str = "cpu") -> dict[str, Any]:
    """``{"device", "gpu", "cpu", "torch", "torch_threads"}`` describing where a run happens
    (``gpu``: ``torch.cuda.get_device_name`` on a CUDA device, else None)."""
    import torch

    cuda = str(device).startswith("cuda")
    return {
        "device": device,
        "gpu": torch.cuda.get_device_name(torch.device(device)) if cuda else None,
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A Markdown table (lines joined by newlines, no trailing newline).

    Args:
        header: column titles.
        rows: one sequence of cells per row (formatted with ``str``), each as long as ``header``.
        align: one letter per column, ``"l"`` (``---``) or ``"r"`` (``---:``); default all ``"l"``.

    Raises ``ValueError`` for a row or ``align`` of another length or another letter.
    """
    n = len(header)
    align = align or "l" * n
    if len(align) != n or set(align) - {"l", "r"}:
        raise ValueError(f"align must be {n} letters l/r, got {align!r}")
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    for row in rows:
        cells = list(row)
        if len(cells) != n:
            raise ValueError(f"row of {len(cells)} cells for {n} columns: {cells}")
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def write_report(out: str | Path, name: str, markdown: str, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<out>/<name>.md`` (``markdown``) and ``<out>/<name>.json`` (``data``, indented;
    values JSON cannot hold are written with ``str``); creates ``out``. Returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"{name}.md", out / f"{name}.json"
    md.write_text(markdown)
    js.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return md, js


__all__ = [
    "cpu_name",
    "device_sync",
    "latency_summary",
    "machine_meta",
    "markdown_table",
    "median_ms",
    "percentile",
    "time_calls",
    "write_report",
]
