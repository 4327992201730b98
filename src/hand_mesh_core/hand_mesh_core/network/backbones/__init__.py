"""Backbone registry of the single-stage network.

Contract every backbone follows (checked by :func:`build_backbone`):

- it is a ``torch.nn.Module`` whose ``forward(x)`` takes ``x`` ``[B, 3, H, W]`` float RGB
  in ``[0, 1]`` (the backbone normalises internally, e.g. ImageNet mean/std or ``2x - 1``)
  and returns a ``list`` of feature maps ``[B, C_i, H / s_i, W / s_i]`` ordered by
  increasing stride ``s_i``;
- it exposes ``out_channels: list[int]`` (``C_i``) and ``strides: list[int]`` (``s_i``),
  of the same length as the returned list.

A backbone module registers its constructors with the :func:`register_backbone` decorator::

    @register_backbone("resnet18")
    def resnet18(**kw) -> nn.Module: ...

Every module of this package is imported on the first :func:`build_backbone` /
:func:`available_backbones` call (auto-discovery), so adding a backbone touches only its
own module.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, Callable[..., Any]] = {}
_DISCOVERED = False


def register_backbone(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a backbone constructor under ``name``.

    Raises ``ValueError`` if ``name`` is already taken by another constructor.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        old = _REGISTRY.get(name)
        same = old is not None and (old.__module__, old.__qualname__) == (fn.__module__, fn.__qualname__)
        if old is not None and not same:
            raise ValueError(f"backbone {name!r} is already registered by {old!r}")
        _REGISTRY[name] = fn
        return fn

    return deco


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _DISCOVERED = True


def available_backbones() -> list[str]:
    """Names accepted by :func:`build_backbone`, sorted."""
    _discover()
    return sorted(_REGISTRY)


def backbone_accepts(name: str, option: str) -> bool:
    """Whether the constructor registered as ``name`` takes a keyword ``option`` (e.g.
    ``"pretrained"``). Raises ``ValueError`` for an unknown name."""
    _discover()
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(_REGISTRY)}")
    params = inspect.signature(_REGISTRY[name]).parameters
    return option in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build_backbone(name: str, **kwargs: Any) -> Any:
    """Build the backbone registered as ``name`` with keyword options ``kwargs``.

    Returns a ``torch.nn.Module`` following the contract in this module's docstring.
    Raises ``ValueError`` for an unknown name (listing the known ones) and ``TypeError``
    if the constructed module does not expose matching ``out_channels`` / ``strides``.
    """
    _discover()
    try:
        ctor = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(_REGISTRY)}") from None
    module = ctor(**kwargs)
    channels = getattr(module, "out_channels", None)
    strides = getattr(module, "strides", None)
    if not isinstance(channels, (list, tuple)) or not isinstance(strides, (list, tuple)):
        raise TypeError(f"backbone {name!r} must expose out_channels and strides lists")
    if len(channels) != len(strides) or len(strides) == 0:
        raise TypeError(f"backbone {name!r}: out_channels {channels} and strides {strides} differ in length")
    if list(strides) != sorted(strides):
        raise TypeError(f"backbone {name!r}: strides {strides} must increase")
    return module
