"""Training the single-stage network with Lightning.

- :mod:`.config` — training configs (OmegaConf YAML in ``hand_mesh_core/configs/train_*.yaml``).
- :mod:`.module` — :class:`~.module.SingleStageModule`, the LightningModule.
- :mod:`.run` — :func:`~.run.train`: Trainer, loggers, checkpoints, resume (``hand-mesh train``).
- :mod:`.weights_export` — checkpoint -> fp16 safetensors for shipping (``hand-mesh export-weights``).
- :mod:`.datamodule` — the LightningDataModule: source mixture, workers, collation.
- :mod:`.targets` — labels -> centre / handedness / keypoint heatmap targets.
- :mod:`.objective` — the weighted loss of one batch (terms from :mod:`hand_mesh_core.losses`).
"""
