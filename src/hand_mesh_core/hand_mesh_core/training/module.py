"""``SingleStageModule``: the LightningModule that trains :class:`SingleStageNet`.

Its constructor only wires parts built from the training config
(:mod:`hand_mesh_core.training.config`): the network (:class:`SingleStageNet` from the
network config, optionally initialised from a weights file), the left and right hand
models, and the weighted objective (:class:`SingleStageObjective`). The training loop,
distribution (DDP), mixed precision, checkpoints and logging are Lightning's.

One training step: the uint8 images of a batch (:func:`hand_mesh_core.training.datamodule.collate_samples`)
become float RGB in [0, 1] in channels-last layout (PyTorch's oneDNN depthwise-convolution
backward is about 40x faster in channels-last on CPU, measured here on the palm backbone's
5x5 depthwise layers), the network runs, and the objective returns the total loss and each
term, which are logged (``train/loss``, ``train/<term>``, ``train/hands``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig, OmegaConf

from hand_mesh_core.training.targets import Targets


class SingleStageModule(pl.LightningModule):
    """Lightning wrapper of the single-stage network and its objective.

    Args:
        config: the complete training config (DictConfig or plain dict, as
            :func:`~hand_mesh_core.training.config.load_train_config` returns); stored in the
            checkpoints' hyper-parameters so :meth:`load_from_checkpoint` rebuilds the module.

    Attributes:
        net: :class:`~hand_mesh_core.network.model.SingleStageNet`; ``objective``:
        :class:`~hand_mesh_core.training.objective.SingleStageObjective`; ``net_config``: the
        network config.

    Raises ``ValueError`` for a ``freeze`` prefix that matches no parameter.
    """

    def __init__(self, config: DictConfig | dict[str, Any]) -> None:
        super().__init__()
        from hand_mesh_core.hand_model import HandModel
        from hand_mesh_core.network.model import SingleStageNet
        from hand_mesh_core.training.objective import SingleStageObjective
        from hand_mesh_core.training.config import network_config

        container = OmegaConf.to_container(config, resolve=True) if isinstance(config, DictConfig) else dict(config)
        self.save_hyperparameters({"config": container})
        self.cfg = OmegaConf.create(container)
        self.net_config = network_config(self.cfg)
        init = self.cfg.get("init_weights")
        self.net = SingleStageNet.load(init, config=self.net_config) if init else SingleStageNet(self.net_config)
        hand_models = {side: HandModel(side, backend=self.net_config.model.hand_model) for side in ("left", "right")}
        for model in hand_models.values():
            model.requires_grad_(False)
        self.objective = SingleStageObjective(self.net_config, hand_models)
        self._freeze(list(self.cfg.optim.freeze or []))
        self.net.to(memory_format=torch.channels_last)

    def _freeze(self, prefixes: list[str]) -> None:
        for prefix in prefixes:
            hits = [p for name, p in self.net.named_parameters() if name.startswith(prefix)]
            if not hits:
                raise ValueError(f"optim.freeze prefix {prefix!r} matches no network parameter")
            for p in hits:
                p.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network outputs for uint8 ``[B, 3, S, S]`` images (or float in [0, 1])."""
        return self.net(self._as_input(images))

    @staticmethod
    def _as_input(images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0) if images.dtype == torch.uint8 else images
        return x.contiguous(memory_format=torch.channels_last)

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int) -> dict:
        out = dict(batch)
        out["images"] = batch["images"].to(device, non_blocking=True)
        out["targets"] = batch["targets"].to(device)
        return out

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        images = self._as_input(batch["images"])
        targets: Targets = batch["targets"]
        outputs = self.net(images)
        loss = self.objective(self.net, outputs, targets, images=images)
        total = loss.total
        if stage == "train" and targets.batch_index.numel() == 0:
            total = total + self._touch_per_hand_heads(outputs["features"])
        bs = images.shape[0]
        self.log(f"{stage}/loss", loss.total.detach(), prog_bar=True, batch_size=bs, sync_dist=stage != "train")
        for name, value in loss.terms.items():
            self.log(f"{stage}/{name}", value, batch_size=bs, sync_dist=stage != "train")
        self.log(f"{stage}/hands", float(targets.batch_index.numel()) / bs, batch_size=bs)
        return total

    def _touch_per_hand_heads(self, features: torch.Tensor) -> torch.Tensor:
        """A zero that depends on every per-hand head parameter.

        A batch without any labelled hand leaves the per-hand heads out of the graph; under
        DDP every rank must produce a gradient for every parameter in each step (else the
        all-reduce waits for buckets that never fill), so the heads are evaluated at one
        cell and multiplied by 0: their gradients are zeros, the loss is unchanged.
        """
        b = torch.zeros(1, dtype=torch.long, device=features.device)
        cells = torch.zeros(1, 2, dtype=torch.long, device=features.device)
        touched = self.net.parameters_at(features, b, cells).sum()
        if self.net.heads.appearance_head is not None:
            albedo, sh = self.net.appearance(features, b, cells)
            touched = touched + albedo.sum() + sh.sum()
        return 0.0 * touched

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self):
        o = self.cfg.optim
        lr = float(o.lr)
        backbone = [p for n, p in self.net.named_parameters() if p.requires_grad and n.startswith("backbone.")]
        rest = [p for n, p in self.net.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
        groups = [{"params": rest, "lr": lr}]
        if backbone and float(o.backbone_lr_scale) > 0:
            groups.append({"params": backbone, "lr": lr * float(o.backbone_lr_scale)})
        elif backbone:
            for p in backbone:
                p.requires_grad_(False)
        optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=float(o.weight_decay))
        budget = o.get("time_budget_min")
        schedule = lr_factor(int(o.warmup_steps), int(self.cfg.trainer.max_steps), str(o.schedule),
                             float(o.min_lr_ratio), float(budget) * 60.0 if budget else None)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class lr_factor:  # noqa: N801 - a picklable function object (checkpoints hold the scheduler)
    """Learning-rate factor at step ``k``: linear warm-up over ``warmup`` steps from 1/warmup,
    then ``constant`` 1 or ``cosine`` from 1 to ``min_ratio`` (Loshchilov & Hutter, SGDR,
    2017, without restarts) over the rest of the run.

    The run ends at ``total`` steps or, when ``budget_s`` is given, after ``budget_s``
    seconds of training, whichever comes first: the cosine's progress is the larger of the
    two fractions, so the rate has annealed when a wall-clock budget runs out on a machine
    slower than planned (pair it with ``trainer.max_time``). Training time is accumulated
    between calls (wall clock; a gap over :attr:`MAX_GAP_S` counts as a pause, e.g. a
    resume). ``LambdaLR`` stores this object's attributes in checkpoints, so the
    accumulated time survives a resume.
    """

    #: Longest gap between two steps counted as training time (seconds).
    MAX_GAP_S = 600.0

    def __init__(self, warmup: int, total: int, schedule: str, min_ratio: float, budget_s: float | None = None) -> None:
        self.warmup, self.total, self.schedule, self.min_ratio = warmup, total, schedule, min_ratio
        self.budget_s = budget_s
        self.elapsed_s = 0.0
        self.last_call = None

    def progress(self, step: int) -> float:
        """Fraction of the annealing phase done at ``step``, in [0, 1]."""
        span = max(1, self.total - self.warmup)
        p = (step - self.warmup) / span
        if self.budget_s:
            p = max(p, self.elapsed_s / self.budget_s)
        return min(1.0, max(0.0, p))

    def __call__(self, step: int) -> float:
        now = time.time()
        if self.last_call is not None and 0.0 <= now - self.last_call <= self.MAX_GAP_S:
            self.elapsed_s += now - self.last_call
        self.last_call = now
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.schedule == "constant":
            return 1.0
        t = self.progress(step)
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


__all__ = ["SingleStageModule", "lr_factor"]
