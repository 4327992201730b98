"""Running a training config with Lightning's ``Trainer``: what ``hand-mesh train`` does.

:func:`train` seeds everything (``lightning.seed_everything(seed, workers=True)``), builds
the :class:`~.module.SingleStageModule` and :class:`~hand_mesh_core.training.datamodule.HandDataModule`,
and runs ``Trainer.fit`` with, in ``output.dir``:

* ``tensorboard/`` — TensorBoard event files (``train/loss``, each loss term, learning rate);
* ``csv/version_<n>/metrics.csv`` — the same scalars as CSV (Lightning's ``CSVLogger``), one
  folder per session (a resumed run starts a new one);
* ``checkpoints/`` — periodic checkpoints (``step=<N>.ckpt``, the newest ``keep``) and
  ``last.ckpt``, written every ``checkpoint.every_n_train_steps`` steps and/or
  ``every_n_minutes`` minutes; ``resume=True`` continues from ``last.ckpt`` (optimizer,
  scheduler, step, loops);
* ``config.yaml`` — the resolved training config;
* the exported weights (``export.name``, fp16 by default) after the last step.

Distribution comes from the ``trainer`` section: ``strategy: ddp``, ``devices``,
``num_nodes`` (Lightning launches the processes; ``torchrun``/SLURM environments are
detected by Lightning); on CPU the process group uses gloo.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


@dataclasses.dataclass
class TrainResult:
    """Outcome of :func:`train`: run folder, last checkpoint, exported weights (None on
    non-zero ranks), steps done, wall time in seconds."""

    run_dir: Path
    last_checkpoint: Path | None
    weights: Path | None
    global_step: int
    wall_s: float


def build_trainer(cfg: DictConfig, run_dir: Path, extra_callbacks: list | None = None):
    """``lightning.Trainer`` of a training config (loggers, checkpoint callback, LR monitor)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    c = cfg.checkpoint
    minutes = c.get("every_n_minutes")
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="step={step}",
        auto_insert_metric_name=False,
        every_n_train_steps=None if minutes else c.get("every_n_train_steps"),
        train_time_interval=datetime.timedelta(minutes=float(minutes)) if minutes else None,
        save_top_k=int(c.get("keep", 3)),
        monitor="step",
        mode="max",
        save_last=True,
    )
    loggers = [
        TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version=""),
        CSVLogger(save_dir=str(run_dir), name="csv"),  # version_<n> per session: a resume keeps older CSVs
    ]
    trainer_kw: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)
    return pl.Trainer(
        default_root_dir=str(run_dir),
        logger=loggers,
        callbacks=[checkpoint, LearningRateMonitor(logging_interval="step"), *(extra_callbacks or [])],
        max_epochs=-1,
        **trainer_kw,
    )


def train(cfg: DictConfig, resume: bool = True, extra_callbacks: list | None = None) -> TrainResult:
    """Train (or continue training) the single-stage network as ``cfg`` says.

    Args:
        cfg: a config from :func:`~.config.load_train_config`.
        resume: continue from ``<output.dir>/checkpoints/last.ckpt`` when it exists.
        extra_callbacks: more Lightning callbacks (tests, monitoring).

    Returns :class:`TrainResult`. Errors of the data sources (missing folders) and of the
    config surface as ``FileNotFoundError`` / ``ValueError`` before training starts.
    """
    import lightning.pytorch as pl
    import torch

    from hand_mesh_core.training.datamodule import HandDataModule
    from hand_mesh_core.training.weights_export import export_checkpoint
    from hand_mesh_core.training.module import SingleStageModule

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    torch.set_flush_denormal(True)  # denormals make CPU convolutions up to 10x slower
    pl.seed_everything(int(cfg.seed), workers=True)
    run_dir = Path(cfg.output.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    module = SingleStageModule(cfg)
    loss_weights = module.net_config.loss
    datamodule = HandDataModule(cfg.data, module.net.input_size, module.net.stride,
                                vertex_targets=float(loss_weights.vertices_3d) > 0)
    trainer = build_trainer(cfg, run_dir, extra_callbacks)
    if trainer.is_global_zero:
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    last = run_dir / "checkpoints" / "last.ckpt"
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if resume and last.is_file() else None)
    wall = time.perf_counter() - start
    weights = None
    trainer.save_checkpoint(str(last))  # a collective under DDP: every rank calls it, rank 0 writes
    if trainer.is_global_zero:
        weights = export_checkpoint(last, run_dir / str(cfg.export.name), fp16=bool(cfg.export.fp16),
                                    provenance={"wall_s_last_session": round(wall, 1)})
    return TrainResult(run_dir, last if last.is_file() else None, weights, int(trainer.global_step), wall)


__all__ = ["TrainResult", "build_trainer", "train"]
