"""hand_mesh_core: find every hand in an RGB image and reconstruct each as a metric 3D mesh.

The library has no ROS dependency. Public entry points (imported lazily, so that
``import hand_mesh_core`` stays cheap and does not pull torch or MediaPipe):

- :class:`HandModel` — the parametric hand model (open default, or MANO from user files).
- :func:`create_predictor` — one entry point for every backend (``single_stage``,
  ``two_stage``) returning an object with ``predict(image, K=None)``.
- :class:`HandResult` / :class:`Prediction` — the result types shared by all backends.
- :class:`ModelFileError` — a model file that exists but cannot be used (a ``ValueError``
  whose message is one line naming the file and what is wrong).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (lazy import, PEP 562)
_LAZY = {
    "HandModel": "hand_mesh_core.hand_model",
    "HandModelOutput": "hand_mesh_core.hand_model",
    "create_predictor": "hand_mesh_core.backends",
    "HandResult": "hand_mesh_core.results",
    "Prediction": "hand_mesh_core.results",
    "ModelFileError": "hand_mesh_core.model_files",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hand_mesh_core' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
