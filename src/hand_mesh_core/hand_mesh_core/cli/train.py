"""``hand-mesh train``: train the single-stage network from a YAML config with Lightning.

Mirrors :func:`hand_mesh_core.training.run.train`. ``CONFIG`` is a YAML path or the name of
a shipped config (``palm_cpu`` -> ``hand_mesh_core/configs/train_palm_cpu.yaml``); extra
arguments are OmegaConf dot-list overrides, e.g.::

    hand-mesh train --config palm_gpu paths.pseudo=/data/pseudo trainer.devices=4 \\
        trainer.num_nodes=2 trainer.strategy=ddp trainer.precision=16-mixed
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train)


def train(
    ctx: typer.Context,
    config: str = typer.Option(..., "--config", help="Training config: YAML path or shipped name (palm_cpu, palm_gpu)."),
    resume: bool = typer.Option(True, help="Continue from <output.dir>/checkpoints/last.ckpt when present."),
    print_config: bool = typer.Option(False, "--print-config", help="Print the resolved config and exit."),
) -> None:
    """Train with DDP across GPUs/nodes, mixed precision, checkpoints + resume, TensorBoard logs, seeds.

    Extra arguments KEY=VALUE override the config (OmegaConf dot-list).
    """
    import os

    # GNU OpenMP threads spin-wait by default; on a CPU shared with other processes that made
    # this training run ~3x slower per step (13 s vs 4.6 s measured under a load of ~8 on 2
    # cores). Read when torch loads, so set before the first torch import; a value already in
    # the environment wins (docs/DEVELOPING.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from omegaconf import OmegaConf

    from hand_mesh_core.training.config import load_train_config

    bad = [a for a in ctx.args if "=" not in a]
    if bad:
        raise typer.BadParameter(f"overrides must be KEY=VALUE, got {bad}")
    try:
        cfg = load_train_config(config, list(ctx.args))
    except (FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    if print_config:
        typer.echo(OmegaConf.to_yaml(cfg))
        return
    from hand_mesh_core.training.run import train as run_training

    result = run_training(cfg, resume=resume)
    if result.weights is not None:
        typer.echo(f"{result.global_step} steps in {result.wall_s / 60:.1f} min; weights: {result.weights}; "
                   f"checkpoint: {result.last_checkpoint}; logs: {Path(result.run_dir) / 'tensorboard'}")
