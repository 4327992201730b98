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


def export_checkpoint(checkpoint: str | Path, path: str | Path, fp16: bool = True,
                      provenance: dict[str, Any] | None = None) -> Path:
    """Export the network of a Lightning checkpoint written by ``hand-mesh train``.

    The checkpoint's step and the training config's data sources are added to
    ``provenance``. Raises ``FileNotFoundError`` for a missing checkpoint.
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
    facts.update(provenance or {})
    return export_weights(module.net, path, fp16=fp16, provenance=facts)


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The ``provenance`` metadata of an exported weights file (empty dict when absent)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["provenance"]) if "provenance" in meta else {}


__all__ = ["export_weights", "export_checkpoint", "read_provenance"]
