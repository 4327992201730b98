"""Where the single-stage pipeline spends its time: backbone, neck, heads, decoding, hand model.

Run inside :func:`hand_mesh_core.bench.pipelines.run_bench` (``hand-mesh bench``), or on
its own with :func:`profile_single_stage`. For one weights file at batch 1, on the CPU with
torch's current thread count, the median over ``repeats`` runs of each stage run alone
(channels-last, inference mode), with its FLOPs counted by ``torch.utils.flop_counter``
(2 per multiply-add):

* ``backbone``, ``neck``, ``centre + handedness heads`` (dense, every cell),
  ``parameter head, dense`` (what the exported runtimes compute in the graph), and
  ``parameter head at N peaks`` (what PyTorch computes, for ``N`` in ``counts``);
* ``decode, N hands``: :meth:`SingleStagePredictor.decode_outputs` on the network's maps (peaks, handedness,
  parameters at the peaks, metric wrist, both hand models; one thread), and
  ``hand model, N hands`` alone (one side, ``N`` hands, vertices included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hand_mesh_core.bench.report import markdown_table, median_ms


def _gflops(fn: Callable[[], Any]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def profile_single_stage(weights: str | Path, counts: Sequence[int] = (1, 8), repeats: int = 20) -> list[dict[str, Any]]:
    """Rows ``{"stage", "ms", "gflops"}`` (see the module docstring). CPU only.

    Raises ``FileNotFoundError`` / ``ValueError`` as :meth:`SingleStageNet.load`.
    """
    import torch

    from hand_mesh_core.single_stage.backend import SingleStagePredictor

    predictor = SingleStagePredictor(weights=weights, device="cpu")  # sets flush-denormal on the CPU
    net, engine, hand_models = predictor.net, predictor.engine, predictor.hand_models
    s = net.input_size
    x = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=torch.channels_last)
    K = torch.tensor([[[s * 0.9, 0.0, s / 2], [0.0, s * 0.9, s / 2], [0.0, 0.0, 1.0]]])
    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        feats = net.backbone(x)
        fmap = net.neck(feats)
        outputs = engine(x)
        h = fmap.shape[-1]
        stages: list[tuple[str, Callable[[], Any], bool]] = [
            ("backbone", lambda: net.backbone(x), True),
            ("neck", lambda: net.neck(feats), True),
            ("centre + handedness heads", lambda: net.heads(fmap), True),
            ("parameter head, dense (exported graphs)", lambda: net.heads.params.dense(fmap), True),
        ]
        for n in counts:
            cells = torch.stack([torch.arange(n) % h, (torch.arange(n) * 7) % h], dim=1)
            b = torch.zeros(n, dtype=torch.long)
            stages.append((f"parameter head at {n} peaks (torch)", lambda b=b, c=cells: net.parameters_at(fmap, b, c), True))
        for n in counts:
            stages.append((f"decode, {n} hands (1 thread)",
                           lambda n=n: predictor.decode_outputs(outputs, K, 0.0, n), False))
            zeros = {"betas": torch.zeros(n, 10), "global_orient": torch.zeros(n, 3), "hand_pose": torch.zeros(n, 45)}
            stages.append((f"hand model, {n} hands", lambda z=zeros: hand_models["right"](**z), False))
        for name, fn, count_flops in stages:
            rows.append({"stage": name, "ms": median_ms(fn, repeats), "gflops": _gflops(fn) if count_flops else None})
    return rows


def profile_to_markdown(rows: Sequence[dict[str, Any]], threads: int) -> str:
    """The rows as a Markdown table."""
    title = f"Single-stage stages (torch, CPU, {threads} threads, batch 1, each stage alone, median):"
    cells = [[r["stage"], f"{r['ms']:.1f}", "-" if r["gflops"] is None else f"{r['gflops']:.2f}"] for r in rows]
    return "\n".join([title, "", markdown_table(["stage", "ms", "GFLOPs"], cells)]) + "\n"
