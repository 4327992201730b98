"""Training configs (OmegaConf YAML): network, data, optimiser, trainer, checkpoints, export.

A file ``hand_mesh_core/configs/train_<name>.yaml`` (or any YAML path) overrides any subset
of :data:`DEFAULTS`; command-line overrides are OmegaConf dot-list items
(``trainer.max_steps=100 data.batch_size=8``). Sections:

``network``
    ``config``: a network config name or path (:func:`hand_mesh_core.network.config.load_config`);
    ``overrides``: nested keys merged over it (``model``, ``loss``, ``decoding``, ``objective``).
    The network config (loss weights included) travels inside every exported weights file.
``init_weights``
    a weights file (:meth:`SingleStageNet.save` / :func:`~.export.export_weights`) to start
    from, or null (the backbone's own pretrained weights, e.g. the palm twin's). The
    network trained is the one of the ``network`` section (its loss weights included); the
    file's tensors are loaded into it, and heads the file lacks (e.g. a keypoint heatmap
    head added by ``overrides``) start from their initialisation
    (:meth:`SingleStageNet.load` with ``config``).
``data``
    :mod:`hand_mesh_core.training.datamodule` (sources, weights, batch size, workers).
``optim``
    AdamW ``lr`` and ``weight_decay``; ``backbone_lr_scale`` multiplies the backbone's
    learning rate (pretrained features move slower); ``freeze``: parameter-name prefixes
    kept fixed (e.g. ``backbone.stem``: no gradient through the high-resolution layers,
    much cheaper on CPU); ``warmup_steps`` of linear warm-up, then ``schedule`` ``cosine``
    (to ``min_lr_ratio`` of ``lr`` at ``trainer.max_steps``, or after ``time_budget_min``
    minutes of training when that comes first: pair it with ``trainer.max_time``) or
    ``constant``.
``trainer``
    keyword arguments of ``lightning.Trainer`` (``max_steps``, ``accelerator``, ``devices``,
    ``num_nodes``, ``strategy`` e.g. ``ddp``, ``precision`` e.g. ``16-mixed``,
    ``gradient_clip_val``, ``accumulate_grad_batches``, ``log_every_n_steps``, ...).
``checkpoint``
    ``every_n_train_steps`` and/or ``every_n_minutes``; ``keep`` (how many periodic
    checkpoints to keep, -1 = all); ``last.ckpt`` is always kept for resuming.
``output``
    ``dir``: run folder (TensorBoard and CSV logs, checkpoints, exported weights).
``export``
    ``fp16``: export the final weights in half precision; ``name`` of the file in the run folder.
``seed``, ``threads`` (torch CPU threads per process; null = torch's default),
``paths`` (free-form values for interpolation, e.g. ``${paths.pseudo}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hand_mesh_core.paths import CONFIGS_DIR

DEFAULTS: dict[str, Any] = {
    "paths": {},
    "network": {"config": "single_stage_palm", "overrides": {}},
    "init_weights": None,
    "data": {"batch_size": 16, "num_workers": 2, "samples_per_epoch": 10000, "seed": 0, "sources": []},
    "optim": {
        "lr": 1e-3,
        "weight_decay": 1e-4,
        "backbone_lr_scale": 0.3,
        "freeze": [],
        "warmup_steps": 100,
        "schedule": "cosine",
        "min_lr_ratio": 0.05,
        "time_budget_min": None,
    },
    "trainer": {
        "max_steps": 1000,
        "accelerator": "auto",
        "devices": "auto",
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "32-true",
        "log_every_n_steps": 10,
        "gradient_clip_val": 5.0,
    },
    "checkpoint": {"every_n_train_steps": 200, "every_n_minutes": None, "keep": 3},
    "output": {"dir": "output/train/run"},
    "export": {"fp16": True, "name": "single_stage.safetensors"},
    "seed": 0,
    "threads": None,
}

SCHEDULES = ("cosine", "constant")


def train_config_path(name: str) -> Path:
    """``configs/train_<name>.yaml`` (or ``configs/<name>.yaml``). Raises ``FileNotFoundError``
    listing the known training configs."""
    for candidate in (CONFIGS_DIR / f"train_{name}.yaml", CONFIGS_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in CONFIGS_DIR.glob("train_*.yaml"))
    raise FileNotFoundError(f"no training config {name!r} in {CONFIGS_DIR}; known: {known}")


def load_train_config(source: str | Path | dict | DictConfig, overrides: list[str] | None = None) -> DictConfig:
    """A complete, checked, resolved training config.

    Args:
        source: a YAML path, a config name (``"palm_cpu"`` -> ``configs/train_palm_cpu.yaml``),
            a dict or a DictConfig; merged over :data:`DEFAULTS`.
        overrides: OmegaConf dot-list items applied last (``["trainer.max_steps=10"]``).

    Returns:
        A DictConfig with interpolations resolved.

    Raises:
        FileNotFoundError: unknown name or missing file.
        ValueError: an unknown top-level key, a malformed override or an invalid value
            (no data source, bad schedule, negative learning rate, ...). The network part is
            checked by :func:`network_config`.
    """
    base = OmegaConf.create(DEFAULTS)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.suffix in (".yaml", ".yml"):
            path = train_config_path(str(source))
        elif not path.is_file():
            raise FileNotFoundError(f"training config not found: {path}")
        user = OmegaConf.load(path)
    else:
        user = OmegaConf.create(source if isinstance(source, dict) else OmegaConf.to_container(source))
    unknown = set(user.keys()) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training config sections {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    try:
        cfg = OmegaConf.merge(base, user)
        if overrides:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        OmegaConf.resolve(cfg)
    except Exception as exc:  # omegaconf's own error types
        raise ValueError(f"invalid training config: {exc}") from exc
    _check(cfg)
    return cfg


def _check(cfg: DictConfig) -> None:
    if not cfg.data.sources:
        raise ValueError("data.sources must list at least one source")
    o = cfg.optim
    if float(o.lr) <= 0 or float(o.weight_decay) < 0 or float(o.backbone_lr_scale) < 0:
        raise ValueError("optim.lr must be > 0, weight_decay and backbone_lr_scale >= 0")
    if o.schedule not in SCHEDULES:
        raise ValueError(f"optim.schedule must be one of {SCHEDULES}, got {o.schedule!r}")
    if o.get("time_budget_min") is not None and float(o.time_budget_min) <= 0:
        raise ValueError(f"optim.time_budget_min must be > 0 or null, got {o.time_budget_min}")
    if int(o.warmup_steps) < 0 or not 0.0 <= float(o.min_lr_ratio) <= 1.0:
        raise ValueError("optim.warmup_steps must be >= 0 and min_lr_ratio in [0, 1]")
    if int(cfg.trainer.max_steps) < 1:
        raise ValueError(f"trainer.max_steps must be >= 1, got {cfg.trainer.max_steps}")
    if int(cfg.data.batch_size) < 1:
        raise ValueError(f"data.batch_size must be >= 1, got {cfg.data.batch_size}")
    c = cfg.checkpoint
    if c.every_n_train_steps is None and c.every_n_minutes is None:
        raise ValueError("checkpoint needs every_n_train_steps or every_n_minutes")


def network_config(cfg: DictConfig) -> DictConfig:
    """The checked network config of a training config (``network.config`` + ``overrides``)."""
    from hand_mesh_core.network.config import load_config

    overrides = OmegaConf.to_container(cfg.network.overrides or {}, resolve=True)
    return load_config(cfg.network.config, **overrides)


__all__ = ["DEFAULTS", "SCHEDULES", "load_train_config", "network_config", "train_config_path"]
