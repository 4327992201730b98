"""Training data for Lightning: a weighted mixture of sources, network inputs, batched targets.

Config (the ``data`` section of a training config, :mod:`hand_mesh_core.training.config`)::

    data:
      batch_size: 16          # per process (DDP multiplies it by the world size)
      num_workers: 2
      samples_per_epoch: 20000
      seed: 0
      sources:                # any number; weights are relative
        - {name: composed, kind: composed, weight: 0.4,
           donors: [{kind: pseudo, options: {root: /data/pseudo}}],
           options: {length: 100000, background_folders: [/data/backgrounds]},
           augment: {rotate_deg: 20}}
        - {name: pseudo, kind: pseudo, weight: 0.4, options: {root: /data/pseudo}}
        - {name: synthetic, kind: synthetic, weight: 0.2, options: {length: 100000}}
        - {name: frei, kind: freihand, weight: 0.5, options: {root: /data/FreiHAND},
           parameters: false}

Source kinds (:data:`SOURCE_KINDS`): ``synthetic``
(:class:`~hand_mesh_core.data.synthetic.SyntheticHands`), ``composed``
(:class:`~hand_mesh_core.data.composition.ComposedHands`, its ``donors`` listed like
sources), ``pseudo`` (:class:`~hand_mesh_core.data.readers.PseudoLabelReader`) and the
public-format readers (``freihand``, ``rhd``, ``interhand``, ``coco_wholebody``,
``onehand10k``, ``ho3d``, ``mmpose_coco``); ``options`` are the keyword arguments of the
class. ``parameters: false`` strips ``pose``/``shape``/``transl`` from a source's labels:
vertex targets are posed with the project's hand model, so only parameters of that model
(synthetic images, pseudo-labels fitted with it) may be kept; MANO fits of public datasets
must be stripped when training the open model. ``augment`` overrides
:class:`~hand_mesh_core.data.augment.AugmentConfig` fields per source.

Sampling (:class:`MixtureDataset`): item ``i`` of an epoch draws its source with
probability proportional to the weights and an index within it, from a generator seeded
with ``(seed, i)``; so a distributed sampler splits items across processes without
duplicates, and any item is reproducible.

Batches (:func:`collate_samples`): ``{"images": uint8 [B, 3, S, S], "targets":
:class:`~hand_mesh_core.training.targets.Targets`, "datasets": [B] names}``; the targets are
built in the loader workers, so the variable number of hands per image (0 included) is
handled there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from hand_mesh_core.data.augment import AugmentConfig, NetworkSample, SampleTransform
from hand_mesh_core.data.sample import Sample

#: Reader classes of the public formats (``"module:Class"``, imported on use).
_READERS = {
    "pseudo": "hand_mesh_core.data.readers.pseudo_labels:PseudoLabelReader",
    "freihand": "hand_mesh_core.data.readers.freihand:FreiHandReader",
    "rhd": "hand_mesh_core.data.readers.rhd:RhdReader",
    "interhand": "hand_mesh_core.data.readers.interhand:InterHandReader",
    "coco_wholebody": "hand_mesh_core.data.readers.coco_wholebody:CocoWholeBodyHandReader",
    "onehand10k": "hand_mesh_core.data.readers.onehand10k:OneHand10kReader",
    "ho3d": "hand_mesh_core.data.readers.ho3d:Ho3dReader",
    "mmpose_coco": "hand_mesh_core.data.readers.mmpose_coco:MmposeCocoReader",
}
SOURCE_KINDS = ("synthetic", "composed", *_READERS)


def _import(target: str):
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def build_source(spec: Mapping[str, Any]) -> Sequence[Sample]:
    """The dataset of one source spec (``kind``, ``options``, for ``composed`` also ``donors``).

    Raises ``ValueError`` for an unknown kind or a missing ``donors`` list, and whatever the
    dataset's constructor raises (``FileNotFoundError`` for missing files).
    """
    kind = spec.get("kind")
    options = dict(spec.get("options") or {})
    if kind == "synthetic":
        from hand_mesh_core.data.synthetic import SyntheticConfig, SyntheticHands

        return SyntheticHands(SyntheticConfig(**_tuples(options, SyntheticConfig)))
    if kind == "composed":
        from hand_mesh_core.data.composition import ComposedHands, CompositionConfig

        donors = spec.get("donors")
        if not donors:
            raise ValueError("a 'composed' source needs a non-empty 'donors' list of source specs")
        return ComposedHands([build_source(d) for d in donors], CompositionConfig(**_tuples(options, CompositionConfig)))
    if kind in _READERS:
        return _import(_READERS[kind])(**options)
    raise ValueError(f"unknown data source kind {kind!r}; known: {', '.join(SOURCE_KINDS)}")


def _tuples(options: dict, cls) -> dict:
    """Lists from YAML turned into tuples where the dataclass field's default is a tuple."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    return {k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, (list, tuple)) else v
            for k, v in options.items()}


def augment_config(overrides: Mapping[str, Any] | None) -> AugmentConfig:
    """:class:`AugmentConfig` with ``overrides`` applied (lists become tuples)."""
    return AugmentConfig(**_tuples(dict(overrides or {}), AugmentConfig))


def strip_parameters(sample: NetworkSample) -> NetworkSample:
    """``sample`` without ``pose``/``shape``/``transl`` labels (keeps 2D and 3D keypoints)."""
    sample.hands = [dataclasses.replace(h, pose=None, shape=None, transl=None) for h in sample.hands]
    return sample


class MixtureDataset(torch.utils.data.Dataset):
    """Weighted mixture of sources, each item passed through its source's transform.

    Args:
        sources: datasets (sequences of :class:`Sample`).
        weights: relative sampling weight of each source (> 0).
        transforms: per source, a callable ``Sample -> NetworkSample``.
        length: items per epoch.
        seed: base seed of the (source, index) draws.
        keep_parameters: per source, whether ``pose``/``shape``/``transl`` labels are kept.
        names: per source, a name reported in the batch.

    ``dataset[i]`` is a :class:`NetworkSample`. Raises ``ValueError`` for mismatched lists,
    an empty source, non-positive weights or length.
    """

    def __init__(self, sources: Sequence[Sequence[Sample]], weights: Sequence[float], transforms: Sequence,
                 length: int, seed: int = 0, keep_parameters: Sequence[bool] | None = None,
                 names: Sequence[str] | None = None) -> None:
        n = len(sources)
        keep_parameters = [True] * n if keep_parameters is None else list(keep_parameters)
        names = [str(i) for i in range(n)] if names is None else list(names)
        if not n or len(weights) != n or len(transforms) != n or len(keep_parameters) != n or len(names) != n:
            raise ValueError("sources, weights, transforms, keep_parameters and names must have the same non-zero length")
        if min(weights) <= 0 or length < 1:
            raise ValueError(f"weights must be > 0 and length >= 1, got {list(weights)}, {length}")
        for name, source in zip(names, sources):
            if len(source) == 0:
                raise ValueError(f"data source {name!r} is empty")
        self.sources, self.transforms, self.names = list(sources), list(transforms), names
        self.keep_parameters = keep_parameters
        w = np.asarray(weights, np.float64)
        self.probabilities = w / w.sum()
        self.length = int(length)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.length

    def pick(self, index: int) -> tuple[int, int]:
        """``(source, item)`` of mixture item ``index``."""
        rng = np.random.default_rng((self.seed, int(index)))
        s = int(rng.choice(len(self.sources), p=self.probabilities))
        return s, int(rng.integers(len(self.sources[s])))

    def __getitem__(self, index: int) -> NetworkSample:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        s, i = self.pick(index)
        out = self.transforms[s](self.sources[s][i])
        out.dataset = self.names[s]
        return out if self.keep_parameters[s] else strip_parameters(out)


def collate_samples(samples: Sequence[NetworkSample], input_size: int, stride: int = 4,
                    hand_models: Mapping[str, torch.nn.Module] | None = None) -> dict[str, Any]:
    """Batch of network samples: images, :class:`Targets` (any number of hands per image).

    Args:
        samples: :class:`NetworkSample` items of one input size.
        input_size: side of the network input (pixels); every image must have it.
        stride: output stride of the network.
        hand_models: when given, vertex targets are posed for hands with parameters
            (:func:`~hand_mesh_core.training.targets.build_targets`).

    Returns ``{"images": uint8 [B, 3, S, S], "targets": Targets, "datasets": list[str]}``.
    Raises ``ValueError`` for an image of another size.
    """
    from hand_mesh_core.training.targets import build_targets

    for s in samples:
        if s.image.shape != (input_size, input_size, 3):
            raise ValueError(f"sample {s.sample_id!r} image is {s.image.shape}, expected {input_size}x{input_size}x3")
    images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2).contiguous()
    targets = build_targets([s.hands for s in samples], np.stack([s.K for s in samples]), input_size, stride,
                            hand_models=hand_models)
    return {"images": images, "targets": targets, "datasets": [s.dataset for s in samples]}


class _Collate:
    """Picklable collate callable (DataLoader workers), holding its hand models lazily."""

    def __init__(self, input_size: int, stride: int, vertex_targets: bool) -> None:
        self.input_size, self.stride, self.vertex_targets = input_size, stride, vertex_targets
        self._models = None

    def __call__(self, samples):
        models = None
        if self.vertex_targets:
            if self._models is None:
                from hand_mesh_core.hand_model import HandModel

                self._models = {s: HandModel(s).eval() for s in ("left", "right")}
            models = self._models
        return collate_samples(samples, self.input_size, self.stride, models)


def seed_transforms(dataset: MixtureDataset, seed: int) -> None:
    """Seed every source transform of ``dataset`` from ``seed`` and the source's index
    (NumPy ``SeedSequence``), so that the augmentation stream is reproducible."""
    for k, transform in enumerate(dataset.transforms):
        if hasattr(transform, "set_random_seed"):
            transform.set_random_seed(int(np.random.SeedSequence([int(seed) % 2**32, k]).generate_state(1)[0]))


def seed_worker_transforms(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed the worker's copy of the transforms from
    ``torch.initial_seed()``, which differs per worker (and is reproducible under
    Lightning's ``seed_everything(workers=True)``). Without it every forked worker would
    carry a copy of the same Albumentations generator state and augment in lockstep."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, MixtureDataset):
        seed_transforms(info.dataset, torch.initial_seed())


def _lightning_datamodule_base():
    import lightning.pytorch as pl

    return pl.LightningDataModule


class HandDataModule(_lightning_datamodule_base()):
    """LightningDataModule of a training config's ``data`` section (module docstring).

    Args:
        data: the ``data`` config (mapping / DictConfig).
        input_size: network input side (pixels).
        stride: network output stride.
        vertex_targets: build vertex targets in the workers (only when the vertex loss is on).

    Sources are built in :meth:`setup` (each process). ``train_dataloader`` shuffles (a
    distributed sampler is added by Lightning under DDP). Raises ``ValueError`` for a config
    without sources or with a bad entry.
    """

    def __init__(self, data: Mapping[str, Any], input_size: int, stride: int = 4, vertex_targets: bool = False) -> None:
        super().__init__()
        from omegaconf import DictConfig, OmegaConf

        self.data = OmegaConf.to_container(data, resolve=True) if isinstance(data, DictConfig) else dict(data)
        self.input_size, self.stride, self.vertex_targets = int(input_size), int(stride), bool(vertex_targets)
        if not data.get("sources"):
            raise ValueError("data.sources must list at least one source")
        self.train_set: MixtureDataset | None = None

    def build_mixture(self) -> MixtureDataset:
        """The training :class:`MixtureDataset` of the config."""
        specs = list(self.data["sources"])
        sources, weights, transforms, keep, names = [], [], [], [], []
        for k, spec in enumerate(specs):
            if "kind" not in spec:
                raise ValueError(f"data.sources[{k}] has no 'kind'")
            sources.append(build_source(spec))
            weights.append(float(spec.get("weight", 1.0)))
            transforms.append(SampleTransform(self.input_size, augment_config(spec.get("augment"))))
            keep.append(bool(spec.get("parameters", True)))
            names.append(str(spec.get("name", spec["kind"])))
        mixture = MixtureDataset(sources, weights, transforms, int(self.data.get("samples_per_epoch", 10000)),
                                 int(self.data.get("seed", 0)), keep, names)
        seed_transforms(mixture, int(self.data.get("seed", 0)))  # the main process (num_workers 0)
        return mixture

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = self.build_mixture()

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        workers = int(self.data.get("num_workers", 0))
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=int(self.data.get("batch_size", 16)),
            shuffle=True,
            num_workers=workers,
            collate_fn=_Collate(self.input_size, self.stride, self.vertex_targets),
            worker_init_fn=seed_worker_transforms if workers > 0 else None,
            persistent_workers=workers > 0,
            drop_last=True,
            prefetch_factor=2 if workers > 0 else None,
        )


__all__ = ["SOURCE_KINDS", "build_source", "augment_config", "strip_parameters", "MixtureDataset", "collate_samples",
           "seed_transforms", "seed_worker_transforms", "HandDataModule"]
