"""Cost of the single-stage network: parameters, FLOPs, forward + decode latency, 1 vs 8 hands.

Run: ``python -m hand_mesh_core.bench.network --out output/bench/network``.
Prints a Markdown table and writes it (``network.md``) with the raw numbers
(``network.json``) to ``--out``.

For each network config (one per backbone: ``single_stage_resnet18/34/50``,
``single_stage_palm`` when the palm backbone is available) and each input size
(``--sizes``, default 256 and 384), batch 1, random weights (cost does not depend on them):

* parameters, and FLOPs of one forward pass counted by ``torch.utils.flop_counter``
  (``FlopCounterMode``: 2 FLOPs per multiply-add of convolutions and matrix products);
* latency of forward + decode + conversion to :class:`~hand_mesh_core.results.Prediction`,
  with exactly 1 and exactly 8 hands in the image. The hand count is controlled by
  *planting* the centre and handedness maps after the real forward pass (peaks on a grid,
  half left, half right); everything else is the real path: the per-hand parameter head at
  the peaks, both hand models, the metric wrist, the meshes, the 2D projection and the
  result objects. The figure is the median over ``--repeats`` runs after warm-up runs
  (1-hand and 8-hand runs alternate, so load from other processes affects both alike);
  the JSON also keeps the minimum.

The ratio column (8 hands / 1 hand) shows that the cost stays flat in the number of hands.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import typer

from hand_mesh_core.bench.report import device_sync, machine_meta, markdown_table, time_calls, write_report

#: Network configs benchmarked, one per backbone.
CONFIGS = ("single_stage_resnet18", "single_stage_resnet34", "single_stage_resnet50", "single_stage_palm")


def planted_maps(batch: int, size: int, count: int, device: str) -> tuple[Any, Any]:
    """Centre and handedness logits ``[B, 1|2, size, size]`` with ``count`` peaks per image
    on a regular grid (score ~0.95), alternating left / right."""
    import torch

    centre = torch.full((batch, 1, size, size), -8.0, device=device)
    handed = torch.zeros((batch, 2, size, size), device=device)
    side = max(1, int(count**0.5 + 0.999))
    step = size // (side + 1)
    for i in range(count):
        r, c = step * (1 + i // side), step * (1 + i % side)
        centre[:, 0, r, c] = 3.0
        handed[:, i % 2, r, c] = 3.0
    return centre, handed


def measure(config: str, size: int, device: str, repeats: int, warmup: int) -> dict[str, Any]:
    """Parameters, FLOPs and latencies (ms) of one config at one input size."""
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hand_mesh_core.hand_model import HandModel
    from hand_mesh_core.network.config import load_config
    from hand_mesh_core.network.model import SingleStageNet
    from hand_mesh_core.network.decoding import decode
    from hand_mesh_core.single_stage.backend import hands_to_predictions
    from hand_mesh_core.single_stage.runtimes.torch_engine import TorchEngine

    torch.manual_seed(0)
    torch.set_flush_denormal(True)  # as the predictor does on CPU (see single_stage/backend.py)
    cfg = load_config(config, **{"model.input_size": size})
    net = SingleStageNet(cfg, pretrained_backbone=False).eval().to(device).to(memory_format=torch.channels_last)
    reader = TorchEngine(net, device=device)  # its parameter head at the peaks, as the predictor reads it
    hand_models = {s: HandModel(side=s).to(device).eval() for s in ("left", "right")}
    faces = {s: m.faces.cpu().numpy() for s, m in hand_models.items()}
    x = torch.rand(1, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    K = np.array([[size * 0.9, 0.0, size / 2], [0.0, size * 0.9, size / 2], [0.0, 0.0, 1.0]])
    K_net = torch.as_tensor(K, dtype=torch.float32, device=device)[None]
    params = sum(p.numel() for p in net.parameters())
    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            net(x)
        flops = counter.get_total_flops()
        out = net(x)
        map_size = out["centre"].shape[-1]
        result: dict[str, Any] = {"config": config, "backbone": cfg.model.backbone.name, "input": size,
                                  "params_m": params / 1e6, "gflops": flops / 1e9}
        fp16 = device.startswith("cuda")
        planted = {count: planted_maps(1, map_size, count, device) for count in (1, 8)}

        def run(count: int) -> int:
            with torch.autocast("cuda", dtype=torch.float16, enabled=fp16):
                o = net(x)
            o = {k: v.float() for k, v in o.items()}
            o["centre"], o["handedness"] = planted[count]
            hands = decode(o["centre"], o["handedness"], reader.parameter_reader(o), K_net, hand_models,
                           stride=net.stride, depth_ref=net.depth_ref, score_threshold=0.5, max_hands=16,
                           nms_kernel=int(cfg.decoding.nms_kernel))
            preds = hands_to_predictions(hands, [(size, size)], [K], backend="single_stage",
                                         hand_model="bench", faces=faces)
            return len(preds[0])

        for count in (1, 8):
            for _ in range(warmup):
                got = run(count)
            if got != count:
                raise RuntimeError(f"planted {count} hands, decoded {got}")
        # 1-hand and 8-hand runs alternate, so that load from other processes hits both alike
        times: dict[int, list[float]] = {1: [], 8: []}
        sync = device_sync(device)
        for _ in range(repeats):
            for count in (1, 8):
                times[count] += time_calls(lambda: run(count), 1, sync=sync)
        for count in (1, 8):
            result[f"ms_{count}"] = statistics.median(times[count])
            result[f"ms_{count}_min"] = min(times[count])
        result["ratio_8_1"] = result["ms_8"] / result["ms_1"]
    return result


def to_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The results as a Markdown table with a header line describing the machine."""
    title = (f"Single-stage network, batch 1, device {meta['device']} ({meta['cpu']}, {meta['torch_threads']} torch "
             f"threads), {meta['repeats']} runs. Latency = forward + decode + result objects, median (min) in ms; "
             "8 / 1 = ratio of the medians.")
    cells = [
        [r["config"], "-", r["input"], "-", "-", "-", "-", r["error"]] if "error" in r else
        [r["config"], r["backbone"], r["input"], f"{r['params_m']:.2f}", f"{r['gflops']:.2f}",
         f"{r['ms_1']:.1f} ({r['ms_1_min']:.1f})", f"{r['ms_8']:.1f} ({r['ms_8_min']:.1f})", f"{r['ratio_8_1']:.2f}"]
        for r in rows
    ]
    header = ["config", "backbone", "input", "params (M)", "GFLOPs", "1 hand", "8 hands", "8 / 1"]
    return "\n".join([title, "", markdown_table(header, cells)]) + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/network"), help="Folder for network.md and network.json."),
    configs: str = typer.Option(",".join(CONFIGS), help="Comma-separated network configs."),
    sizes: str = typer.Option("256,384", help="Comma-separated input sizes (multiples of 32)."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    repeats: int = typer.Option(10, min=1, help="Timed runs per measurement."),
    warmup: int = typer.Option(3, min=1, help="Untimed runs first."),
    threads: int = typer.Option(0, min=0, help="torch CPU threads (0 = torch's default). On a machine "
                                "shared with other jobs, 1 thread avoids OpenMP barrier stalls."),
) -> None:
    """Parameters, FLOPs and forward + decode latency with 1 and 8 hands, per backbone and size."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    from hand_mesh_core.network.backbones import available_backbones
    from hand_mesh_core.network.config import load_config
    from hand_mesh_core.predictor import resolve_device

    device = resolve_device(device)
    rows = []
    for config in [c.strip() for c in configs.split(",") if c.strip()]:
        name = load_config(config).model.backbone.name
        for size in [int(s) for s in sizes.split(",")]:
            if name not in available_backbones():
                rows.append({"config": config, "input": size, "error": f"backbone {name!r} not available"})
                continue
            rows.append(measure(config, size, device, repeats, warmup))
            typer.echo(f"{config} @ {size}: {rows[-1]}", err=True)
    meta = {**machine_meta(device), "repeats": repeats}
    table = to_markdown(rows, meta)
    md, js = write_report(out, "network", table, {"meta": meta, "rows": rows})
    typer.echo(table)
    typer.echo(f"written: {md}, {js}")


if __name__ == "__main__":
    typer.run(main)
