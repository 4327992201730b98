"""Exporting trained weights for shipping: a Lightning checkpoint -> a compact safetensors file.

The file has the layout of :meth:`SingleStageNet.save` (tensors of the network's
``state_dict``; metadata ``config`` = the network config as YAML, ``format`` =
``hand_mesh.single_stage/1``), so :meth:`SingleStageNet.load` and the ``single_stage``
predictor read it. With ``fp16`` the floating-point tensors are stored in half precision
(halving the size; ``load_state_dict`` casts them back to the network's float32), integer
buffers unchanged. Extra metadata (``provenance``: JSON with steps, data, time...) is kept
for the model card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def export_weights(net: torch.nn.Module, path: str | Path, fp16: bool = True, provenance: dict[str, Any] | None = None) -> Path:
    """Write ``net`` (a :class:`SingleStageNet`) to ``path`` as safetensors.

    Args:
        net: the network (its ``config`` attribute is written into the metadata).
        path: output file (parent folders are created).
        fp16: store floating-point tensors as float16.
        provenance: JSON-serialisable facts about the training, stored as metadata.

    Returns the path. Raises ``ValueError`` when a float tensor does not fit in float16
    (a value beyond +-65504) and ``fp16`` is asked for.
    """
    from safetensors.torch import save_file

    from hand_mesh_core.network.config import config_to_yaml

    state = {}
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        if fp16 and t.is_floating_point():
            if t.numel() and float(t.abs().max()) > torch.finfo(torch.float16).max:
                raise ValueError(f"{name} has values beyond the float16 range; export with fp16=False")
            t = t.to(torch.float16)
        state[name] = t
    meta = {"config": config_to_yaml(net.config), "format": "hand_mesh.single_stage/1",
            "dtype": "float16" if fp16 else "float32"}
    if provenance:
        meta["provenance"] = json.dumps(provenance, sort_keys=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return path


def fold_operating_threshold(net: torch.nn.Module, threshold: float) -> float:
    """Shift the centre heatmap's last bias so that score ``0.5`` means what ``threshold`` did.

    A detector's operating point is a property of its weights (a briefly trained network
    peaks lower than a converged one), while every backend shares one ``score_threshold``
    option (default 0.5). Adding ``-logit(threshold)`` to the bias of the centre head's final
    1x1 convolution moves every centre logit by that constant, so after the shift
    ``sigmoid(logit') >= 0.5`` exactly where ``sigmoid(logit) >= threshold`` before: the same
    hands are found at the default, the order of scores is unchanged, and scores stay in
    (0, 1). This is the bias form of Platt scaling with a unit slope (Platt 1999).

    Args:
        net: a :class:`~hand_mesh_core.network.model.SingleStageNet` (changed in place).
        threshold: the calibrated operating threshold in (0, 1).

    Returns the logit shift applied. Raises ``ValueError`` for a threshold outside (0, 1).
    """
    import math

    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"operating threshold must be in (0, 1), got {threshold!r}")
    shift = -math.log(threshold / (1.0 - threshold))
    with torch.no_grad():
        net.heads.centre.conv2.bias.add_(shift)
    return shift


def export_checkpoint(checkpoint: str | Path, path: str | Path, fp16: bool = True,
                      provenance: dict[str, Any] | None = None,
                      operating_threshold: float | None = None,
                      decoding: Sequence[str] = ()) -> Path:
    """Export the network of a Lightning checkpoint written by ``hand-mesh train``.

    The checkpoint's step and the training config's data sources are added to
    ``provenance``. With ``operating_threshold``, the centre head is shifted by
    :func:`fold_operating_threshold` first and the threshold is recorded in the provenance.
    ``decoding``: ``KEY=VALUE`` overrides of the network config's ``decoding`` section
    (:func:`set_decoding`) written into the file (e.g. ``["keypoint_refinement.enabled=true",
    "keypoint_refinement.min_score=0.0"]``): the decoding settings the weights were
    measured with, which the checkpoint's training config may predate; recorded in the
    provenance. Raises ``FileNotFoundError`` for a missing checkpoint, ``ValueError`` for a
    threshold outside (0, 1) or a decoding override that is malformed, unknown or invalid.
    """
    from hand_mesh_core.training.module import SingleStageModule

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    module = SingleStageModule.load_from_checkpoint(str(checkpoint), map_location="cpu")
    raw = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    facts = {"global_step": int(raw.get("global_step", 0)), "checkpoint": checkpoint.name,
             "data_sources": [{k: s.get(k) for k in ("name", "kind", "weight")}
                              for s in module.hparams["config"]["data"]["sources"]]}
    if operating_threshold is not None:
        fold_operating_threshold(module.net, operating_threshold)
        facts["operating_threshold_folded"] = float(operating_threshold)
    if decoding:
        set_decoding(module.net, decoding)
        facts["decoding_overrides"] = list(decoding)
    facts.update(provenance or {})
    return export_weights(module.net, path, fp16=fp16, provenance=facts)


def set_decoding(net: torch.nn.Module, overrides: Sequence[str]) -> None:
    """Apply ``overrides`` (``"key.sub=value"``, value read as YAML) to ``net.config.decoding``.

    Only settings the section already has may be set (a typo is an error, not a new key);
    the result is checked like any network config (:func:`~hand_mesh_core.network.config.load_config`).
    Raises ``ValueError`` otherwise.
    """
    import yaml

    from hand_mesh_core.network.config import load_config

    updates = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"decoding override must be KEY=VALUE, got {item!r}")
        updates[f"decoding.{key.strip()}"] = yaml.safe_load(value)
    net.config = load_config(net.config, **updates)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The ``provenance`` metadata of an exported weights file (empty dict when absent)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["provenance"]) if "provenance" in meta else {}


__all__ = ["export_weights", "export_checkpoint", "fold_operating_threshold", "read_provenance"]
