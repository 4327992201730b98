"""``SingleStageNet``: backbone + fusion neck + heads, built from a config, with weight files.

Architecture (Ren, Zhu, Zhang, CVIU 2023): one pass of a backbone over the whole image,
multi-scale features fused into one shared stride-4 map (:mod:`.neck`), and heads on that
map (:mod:`.heads`): a centre heatmap and a handedness map over every cell, and per-hand
parameters / albedo / lighting read at each hand's cell. Decoding is :mod:`.decoding`.

Weight files are safetensors holding the ``state_dict`` and, in the metadata key
``"config"``, the YAML of the network config, so a file fully describes its network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from hand_mesh_core.network.backbones import backbone_accepts, build_backbone
from hand_mesh_core.network.config import config_to_yaml, load_config
from hand_mesh_core.network.heads import SingleStageHeads
from hand_mesh_core.network.neck import OUTPUT_STRIDE, FusionNeck

#: MANO's vertex count (Romero et al. 2017), for configs whose hand model is MANO.
MANO_NUM_VERTICES = 778


def hand_model_num_vertices(kind: str) -> int:
    """Vertex count of the hand model ``kind`` (``"open"`` reads the shipped model; ``"mano"``
    is 778). Raises ``ValueError`` for another kind."""
    if kind == "mano":
        return MANO_NUM_VERTICES
    if kind == "open":
        from hand_mesh_core.hand_model import HandModel

        return int(HandModel(side="right", backend="open").num_vertices)
    raise ValueError(f"unknown hand model {kind!r}")


class SingleStageNet(nn.Module):
    """The single-stage multi-hand network.

    Args:
        config: anything :func:`~hand_mesh_core.network.config.load_config` accepts
            (name, path, dict, DictConfig; None = the default config).
        pretrained_backbone: let the backbone load its own pretrained weights when its
            options ask for them (e.g. the palm twin from the mediapipe wheel); False when a
            full weight file is loaded afterwards anyway.

    Attributes:
        config: the complete, read-only config (``heads.num_vertices`` resolved).
        input_size: side of the square input (pixels); ``stride``: 4 (pixels per map cell);
        depth_ref: metres per network pixel at a zero depth term (the config's
            ``model.depth_ref / input_size``).

    ``forward(images)``: ``images`` ``[B, 3, S, S]`` float RGB in ``[0, 1]`` (letterboxed,
    :mod:`.letterbox`); returns ``{"centre": [B, 1, S/4, S/4], "handedness": [B, 2, S/4,
    S/4], "features": [B, C, S/4, S/4]}`` (logits, logits, shared map), plus
    ``"keypoint_heatmaps": [B, 21, S/4, S/4]`` logits when the config enables that head.
    Raises ``ValueError`` for an input of another shape.
    """

    def __init__(self, config: Any = None, pretrained_backbone: bool = True) -> None:
        super().__init__()
        cfg = load_config(config)
        m = cfg.model
        num_vertices = 0
        if m.heads.appearance:
            num_vertices = int(m.heads.num_vertices) if m.heads.num_vertices else hand_model_num_vertices(m.hand_model)
        cfg = load_config(cfg, **{"model.heads.num_vertices": num_vertices or None})
        self.config: DictConfig = cfg
        self.input_size = int(m.input_size)
        self.stride = OUTPUT_STRIDE
        self.depth_ref = float(m.depth_ref) / self.input_size
        options = dict(m.backbone.options)
        if not pretrained_backbone and backbone_accepts(m.backbone.name, "pretrained"):
            options["pretrained"] = False
        self.backbone = build_backbone(m.backbone.name, **options)
        self.neck = FusionNeck(list(self.backbone.out_channels), list(self.backbone.strides), **dict(m.neck))
        self.heads = SingleStageHeads(self.neck.out_channels, int(m.heads.hidden), num_vertices,
                                      keypoint_heatmaps=bool(m.heads.keypoint_heatmaps))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (self.input_size, self.input_size):
            raise ValueError(
                f"expected [B, 3, {self.input_size}, {self.input_size}] RGB in [0, 1], got {tuple(images.shape)}"
            )
        features = self.neck(self.backbone(images))
        out = self.heads(features)
        out["features"] = features
        return out

    def parameters_at(self, features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Both 61-number parameter sets at the given cells: ``[N, 122]`` (see :mod:`.heads`)."""
        return self.heads.parameters_at(features, batch_index, cells)

    def appearance(
        self, features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-hand albedo ``[N, V, 3]`` and SH lighting ``[N, 27]`` at the cells."""
        return self.heads.appearance(features, batch_index, cells)

    def save(self, path: str | Path) -> None:
        """Write the weights and config to a safetensors file."""
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata={"config": config_to_yaml(self.config), "format": "hand_mesh.single_stage/1"})

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu", config: Any = None) -> SingleStageNet:
        """Build the network described by a file written by :meth:`save` and load its weights.

        ``config`` (anything :func:`load_config` accepts) builds that network instead of the
        file's and loads the file's tensors into it (fine-tuning with another objective or
        an added head): parameters of heads the file lacks (names under ``heads.``) keep
        their initialisation; any other missing, extra or mis-shaped tensor is an error.

        Raises ``FileNotFoundError`` for a missing file and
        :class:`~hand_mesh_core.model_files.ModelFileError` (a ``ValueError``, one line naming
        the file) for a corrupt or truncated file, a file without a config or whose tensors do
        not match the network it describes.
        """
        from omegaconf import OmegaConf
        from safetensors import safe_open
        from safetensors.torch import load_file

        from hand_mesh_core.model_files import reading

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
        with reading(path, "single_stage weights file (safetensors)"):
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            if "config" not in meta:
                raise ValueError("no 'config' metadata: not a SingleStageNet weights file")
            net = cls(OmegaConf.create(meta["config"]) if config is None else config, pretrained_backbone=False)
            state = load_file(str(path), device=str(map_location))
            missing, unexpected = net.load_state_dict(state, strict=False)
            if config is not None:
                missing = [k for k in missing if not k.startswith("heads.")]
            if missing or unexpected:
                raise ValueError(f"does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return net.to(map_location)
