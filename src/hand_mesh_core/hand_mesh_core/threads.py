"""CPU thread settings for small tensor work (shared by the fit and the single-stage decoding).

``torch.set_num_threads`` is process-wide; :func:`single_cpu_thread` narrows it to one
intra-op thread for a block of code and restores it afterwards.

Why: tiny tensors (a few hands, a few dozen parameters each) gain nothing from being split
over OpenMP threads, and on a shared CPU the threads' synchronisation dominates. Measured
on the 2-core CI machine: one hand-model fit beside MediaPipe's threads took 650 ms on the
default threads instead of 22 ms on one; decoding 1 / 8 hands of the single-stage network
under load from other jobs took 1.2 / 1.7 ms on one thread and 1.2 to 124 ms (erratic) on
two (see docs/DEVELOPING.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_cpu_thread() -> Iterator[None]:
    """Run the enclosed torch CPU work on one intra-op thread, then restore the setting.

    The previous ``torch.get_num_threads()`` value is restored even when the block raises.
    The setting is process-wide, so torch work in other threads runs single-threaded
    meanwhile; use it around short blocks of tiny-tensor work only.
    """
    previous = torch.get_num_threads()
    if previous != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous != 1:
            torch.set_num_threads(previous)


__all__ = ["single_cpu_thread"]
