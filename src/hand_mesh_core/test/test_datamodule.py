"""Training data mixture: weighted sources, reproducible draws, batches with any number of hands."""

from __future__ import annotations

import numpy as np
import pytest

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.data.augment import AugmentConfig, SampleTransform
from hand_mesh_core.training.datamodule import HandDataModule, MixtureDataset, build_source, collate_samples
from hand_mesh_core.data.sample import HandLabel, Sample

SIZE = 64


def _sample(n_hands: int, tag: int) -> Sample:
    rng = np.random.default_rng(tag)
    hands = []
    for i in range(n_hands):
        kp = rng.uniform(20, 80, (21, 2)).astype(np.float32)
        kp3d = np.concatenate([(kp - 50) / 100 * 0.5, np.full((21, 1), 0.5)], axis=1)
        hands.append(HandLabel(keypoints_2d=kp, valid=np.ones(21, bool), visibility=np.ones(21, bool),
                               handedness="left" if i % 2 else "right", keypoints_3d=kp3d,
                               pose=np.zeros(48), shape=np.zeros(10), transl=np.zeros(3)))
    image = np.full((100, 100, 3), tag % 256, np.uint8)
    return Sample(hands=hands, image=image, K=intrinsics_from_fov(100, 100), sample_id=str(tag))


def _mixture(weights=(3.0, 1.0), length=400, keep=(True, False)):
    a = [_sample(1, i) for i in range(5)]
    b = [_sample(0, 100 + i) for i in range(3)]
    t = SampleTransform(SIZE, AugmentConfig(enabled=False))
    return MixtureDataset([a, b], weights, [t, t], length, seed=7, keep_parameters=keep, names=["a", "b"])


def test_sources_are_drawn_by_weight_and_reproducibly():
    ds = _mixture()
    picks = [ds.pick(i)[0] for i in range(len(ds))]
    share = picks.count(0) / len(picks)
    assert 0.68 < share < 0.82  # 3:1 weights
    assert [ds.pick(i) for i in range(20)] == [_mixture().pick(i) for i in range(20)]
    s = ds[0]
    assert s.dataset in ("a", "b") and s.image.shape == (SIZE, SIZE, 3)
    with pytest.raises(IndexError):
        ds[400]


def test_parameters_are_stripped_where_asked():
    ds = _mixture(weights=(1.0, 1e-9), keep=(False, True))
    s = ds[0]
    assert s.dataset == "a" and s.hands[0].pose is None and s.hands[0].transl is None
    assert s.hands[0].keypoints_3d is not None


def test_collate_handles_images_without_hands():
    t = SampleTransform(SIZE, AugmentConfig(enabled=False))
    samples = [t(_sample(0, 1)), t(_sample(2, 2)), t(_sample(1, 3))]
    batch = collate_samples(samples, SIZE)
    assert batch["images"].shape == (3, 3, SIZE, SIZE) and str(batch["images"].dtype) == "torch.uint8"
    targets = batch["targets"]
    assert targets.batch_index.tolist() == [1, 1, 2]
    assert float(targets.centre[0].max()) == 0.0 and float(targets.centre[1].max()) == 1.0
    with pytest.raises(ValueError, match="expected"):
        collate_samples(samples, SIZE + 32)


def test_bad_sources_are_reported():
    with pytest.raises(ValueError, match="unknown data source kind"):
        build_source({"kind": "imagenet"})
    with pytest.raises(ValueError, match="donors"):
        build_source({"kind": "composed"})
    with pytest.raises(FileNotFoundError):
        build_source({"kind": "pseudo", "options": {"root": "/no/such/folder"}})
    with pytest.raises(ValueError, match="empty"):
        t = SampleTransform(SIZE, AugmentConfig(enabled=False))
        MixtureDataset([[]], [1.0], [t], 10)
    with pytest.raises(ValueError, match="sources"):
        HandDataModule({"sources": []}, SIZE)


def _affines_by_worker(seed: int) -> dict[int, list]:
    """Augmentation affines of one item drawn repeatedly, grouped by DataLoader worker."""
    import torch

    from hand_mesh_core.training.datamodule import seed_worker_transforms

    class SameItem(MixtureDataset):
        def __getitem__(self, index):
            out = super().__getitem__(0)  # the same sample every time: only the augmentation varies
            return torch.utils.data.get_worker_info().id, out.affine

    t = SampleTransform(SIZE, AugmentConfig(zoom=(0.7, 1.3), rotate_deg=30.0, flip_probability=0.5))
    ds = SameItem([[_sample(1, 0)]], [1.0], [t], 8, seed=0)
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, worker_init_fn=seed_worker_transforms)
    by_worker: dict[int, list] = {0: [], 1: []}
    for worker, affine in loader:
        by_worker[int(worker)].append(np.asarray(affine))
    return by_worker


def test_dataloader_workers_augment_independently_and_reproducibly():
    first = _affines_by_worker(seed=5)
    assert len(first[0]) == len(first[1]) == 4
    # forked workers would otherwise share one generator state and augment in lockstep
    assert not all(np.allclose(a, b) for a, b in zip(first[0], first[1]))
    again = _affines_by_worker(seed=5)
    assert all(np.allclose(a, b) for w in (0, 1) for a, b in zip(first[w], again[w]))
