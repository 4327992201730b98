"""Cost of the differentiable renderer: forward and forward + backward, 1 vs 4 hands.

Run: ``python -m hand_mesh_core.bench.renderer --out output/bench/renderer``.
Prints a Markdown table and writes it (``renderer.md``) with the raw numbers
(``renderer.json``) to ``--out``.

Scene: the open hand model (1159 vertices, 2314 faces) in the ``relaxed`` pose, palm
towards the camera, at 0.5 m in a 60 degree FOV camera (a hand spans about a third of the
image width), 1 hand or 4 hands on a 2x2 grid in one image; per-vertex albedo and SH
lighting. For each square image size (``--sizes``, default 64, 128, 256):

* ``forward``: :meth:`Renderer.render` with albedo and lighting (silhouette, RGB, z-buffer);
* ``forward + backward``: the same, then the silhouette and photometric losses of
  :mod:`hand_mesh_core.losses.rendering` and ``backward()`` to the vertices, albedo and
  lighting (what one training step spends in rendering);
* ``pairs``: pixel-face pairs the tiled rasterizer evaluated.

Times are the median over ``--repeats`` runs after ``--warmup`` runs, with
``torch.set_num_threads(--threads)`` (default 2, the CI machine's cores).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from hand_mesh_core.bench.report import device_sync, machine_meta, markdown_table, median_ms, write_report

#: (x, y) offsets in metres of the hands in the 4-hand scene (a 2x2 grid at 0.5 m).
GRID = ((-0.12, -0.08), (0.12, -0.08), (-0.12, 0.08), (0.12, 0.08))


def hand_scene(num_hands: int, size: int, device: str) -> dict[str, Any]:
    """Vertices, faces, K, albedo and SH of ``num_hands`` hands in one ``size`` x ``size`` image."""
    import torch

    from hand_mesh_core.camera import intrinsics_from_fov
    from hand_mesh_core.hand_model import HandModel
    from hand_mesh_core.hand_model.poses import named_pose
    from hand_mesh_core.render import uniform_sh

    model = HandModel(side="right")
    pose = named_pose("relaxed", "right").reshape(1, 45).expand(num_hands, 45)
    offsets = GRID[:num_hands] if num_hands > 1 else ((0.0, 0.0),)
    transl = torch.tensor([[x, y, 0.5] for x, y in offsets])
    with torch.no_grad():
        out = model(global_orient=torch.tensor([[math.pi / 2, 0.0, 0.0]]).expand(num_hands, 3), hand_pose=pose, transl=transl)
        # centre each hand on its grid point (the model's origin is not the hand's centre)
        vertices = out.vertices - out.vertices.mean(1, keepdim=True) + transl[:, None]
    g = torch.Generator().manual_seed(0)
    return {
        "vertices": vertices.to(device),
        "faces": model.faces.to(device),
        "K": torch.tensor(intrinsics_from_fov(size, size), dtype=torch.float32, device=device),
        "albedo": (0.5 + 0.2 * torch.rand(num_hands, vertices.shape[1], 3, generator=g)).to(device),
        "sh": (uniform_sh(0.8).reshape(1, 27) + 0.1 * torch.randn(num_hands, 27, generator=g)).to(device),
        "mesh_to_image": torch.zeros(num_hands, dtype=torch.long, device=device),
    }


def measure(size: int, num_hands: int, device: str, repeats: int, warmup: int) -> dict[str, Any]:
    """Median forward and forward + backward milliseconds for one image size and hand count."""
    import torch

    from hand_mesh_core.losses.rendering import photometric_loss, silhouette_loss
    from hand_mesh_core.render import Renderer

    scene = hand_scene(num_hands, size, device)
    renderer = Renderer(size)
    with torch.no_grad():
        target = renderer.render(scene["vertices"] + 0.003, scene["faces"], scene["K"], scene["albedo"] * 0.9, scene["sh"], mesh_to_image=scene["mesh_to_image"], num_images=1)
    mask = (target.silhouette > 0.5).float()

    def forward(grad: bool) -> tuple[Any, list[Any]]:
        leaves = [scene[k].clone().requires_grad_(grad) for k in ("vertices", "albedo", "sh")]
        out = renderer.render(leaves[0], scene["faces"], scene["K"], leaves[1], leaves[2], mesh_to_image=scene["mesh_to_image"], num_images=1)
        return out, leaves

    def run_forward() -> int:
        with torch.no_grad():
            out, _ = forward(False)
        return out.num_pairs

    def run_backward() -> int:
        out, leaves = forward(True)
        loss = silhouette_loss(out.silhouette, mask) + photometric_loss(out.rgb, target.rgb, out.silhouette, mask)
        loss.backward()
        assert all(torch.isfinite(leaf.grad).all() for leaf in leaves)
        return out.num_pairs

    result: dict[str, Any] = {"size": size, "hands": num_hands, "pairs": run_forward()}
    for name, fn in (("forward_ms", run_forward), ("forward_backward_ms", run_backward)):
        result[name] = median_ms(fn, repeats, warmup, sync=device_sync(device))
    return result


def to_markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The results as a Markdown table with a one-line header of the conditions."""
    title = (f"Renderer benchmark ({meta['backend']} backend, {meta['device']}, {meta['threads']} threads, "
             f"torch {meta['torch']}, {meta['cpu']}; median of {meta['repeats']} runs; open hand model, 2314 faces per hand)")
    cells = [[f"{r['size']}x{r['size']}", r["hands"], f"{r['pairs']:,}", f"{r['forward_ms']:.1f}",
              f"{r['forward_backward_ms']:.1f}"] for r in rows]
    header = ["image", "hands", "pixel-face pairs", "forward ms", "forward + backward ms"]
    return "\n".join([title, "", markdown_table(header, cells, align="rrrrr")]) + "\n"


def main(
    out: Path = typer.Option(Path("output/bench/renderer"), help="Folder for renderer.md and renderer.json."),
    sizes: str = typer.Option("64,128,256", help="Comma-separated square image sizes (pixels)."),
    hands: str = typer.Option("1,4", help="Comma-separated hand counts per image (1 to 4)."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
    repeats: int = typer.Option(10, min=1, help="Timed runs per measurement."),
    warmup: int = typer.Option(2, min=1, help="Untimed runs first."),
) -> None:
    """Time the renderer's forward and forward + backward passes and write the table."""
    import torch

    torch.set_num_threads(threads)
    counts = [int(h) for h in hands.split(",")]
    if any(not 1 <= h <= len(GRID) for h in counts):
        raise typer.BadParameter(f"hand counts must be in 1..{len(GRID)}")
    rows = []
    for size in (int(s) for s in sizes.split(",")):
        for count in counts:
            rows.append(measure(size, count, device, repeats, warmup))
            typer.echo(f"{size} px, {count} hands: {rows[-1]}", err=True)
    meta = {**machine_meta(device), "backend": "torch", "threads": threads, "repeats": repeats}
    table = to_markdown(rows, meta)
    md, js = write_report(out, "renderer", table, {"meta": meta, "rows": rows})
    typer.echo(table)
    typer.echo(f"written: {md}, {js}")


if __name__ == "__main__":
    typer.run(main)
