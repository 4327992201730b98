"""Training the single-stage network with Lightning.

- :mod:`.config` — training configs (OmegaConf YAML in ``hand_mesh_core/configs/train_*.yaml``).
- :mod:`.module` — :class:`~.module.SingleStageModule`, the LightningModule.
- :mod:`.run` — :func:`~.run.train`: Trainer, loggers, checkpoints, resume (``hand-mesh train``).
- :mod:`.export` — checkpoint -> fp16 safetensors for shipping (``hand-mesh export-weights``).

The data side is :mod:`hand_mesh_core.data.datamodule`.
"""
