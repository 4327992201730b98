"""One entry point for every backend: :func:`create_predictor` and the backend registry.

Registering a backend takes one line in :data:`_BACKENDS` (``name -> "module:Class"``,
imported only when that backend is created), or a call to :func:`register_backend`. A
backend is a subclass of :class:`hand_mesh_core.predictor.Predictor`; the tiled mode
(:mod:`hand_mesh_core.tiling`) wraps any of them.
"""

from __future__ import annotations

import importlib
from typing import Any

from hand_mesh_core.predictor import Predictor

#: Backend name -> ``"module:Class"`` (lazy) or the class itself. Add a backend with one line.
_BACKENDS: dict[str, Any] = {
    "two_stage": "hand_mesh_core.two_stage.backend:TwoStagePredictor",
    "single_stage": "hand_mesh_core.single_stage.backend:SingleStagePredictor",
}


def register_backend(name: str, target: Any) -> None:
    """Make ``create_predictor(backend=name)`` build ``target``.

    ``target`` is a :class:`Predictor` subclass or a ``"module:Class"`` string (imported
    on first use). Registering a name again replaces the previous target.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"backend name must be a non-empty string, got {name!r}")
    _BACKENDS[name] = target


def available_backends() -> list[str]:
    """Names accepted by :func:`create_predictor`, sorted."""
    return sorted(_BACKENDS)


def _backend_class(name: str) -> type[Predictor]:
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; available: {', '.join(available_backends())}")
    target = _BACKENDS[name]
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
        _BACKENDS[name] = target
    if not (isinstance(target, type) and issubclass(target, Predictor)):
        raise TypeError(f"backend {name!r} resolves to {target!r}, not a Predictor subclass")
    return target


def create_predictor(backend: str = "two_stage", *, tiles: str = "off", **options: Any) -> Predictor:
    """Build the predictor of ``backend`` (``"two_stage"``, ``"single_stage"``, ...).

    ``options`` go to the backend's constructor. Common ones (see :class:`Predictor`):
    ``device="auto"|"cpu"|"cuda"``, ``max_hands``, ``score_threshold``,
    ``hand_model="open"|"mano"``, ``mano_path``, ``video`` (stream mode),
    ``max_image_side``. ``tiles``: ``"off"`` (default), ``"auto"`` or a grid ``"CxR"``:
    tiled inference for small hands in large frames (:mod:`hand_mesh_core.tiling`).

    Raises:
        ValueError: an unknown backend or a bad option value.
        hand_mesh_core.model_files.ModelFileError: (a ``ValueError``) a model file the
            backend reads is corrupt or truncated: weights, ONNX model, MANO pickle, open
            hand model, MediaPipe ``.tflite``. The message is one line naming the file and
            what is wrong. Derived cache files (exported ONNX, TensorRT engines) are rebuilt
            instead.
        FileNotFoundError: a model file is missing (the message says where it was looked for).
        TypeError: an option the backend does not take.
    """
    cls = _backend_class(backend)
    from hand_mesh_core.tiling import create_tiled_predictor, parse_tiles

    if parse_tiles(tiles).mode == "off":
        return cls(**options)
    return create_tiled_predictor(cls, tiles, **options)


__all__ = ["create_predictor", "register_backend", "available_backends"]
