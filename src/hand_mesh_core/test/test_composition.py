"""Multi-hand composition: pasted pixels and labels agree, flips are consistent, occlusion is tracked."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.composition import ComposedHands, CompositionConfig, hand_paste_mask
from hand_mesh_core.data.sample import HandLabel, Sample
from hand_mesh_core.data.synthetic import SyntheticHands
from hand_mesh_core.hand_model import HandModel

#: keypoints drawn as coloured discs on the marked donor (wrist, thumb tip, index tip, pinky tip)
MARKED = {0: (255, 255, 255), 4: (255, 0, 0), 8: (0, 255, 0), 20: (0, 0, 255)}


@pytest.fixture(scope="module")
def synthetic_donors():
    """Synthetic single-hand images: real labels with 3D, pose, shape, translation and K."""
    ds = SyntheticHands(length=12, seed=5, image_size=(256, 256), hand_count_weights=(0.0, 1.0),
                        hand_size=(0.35, 0.5), background_folders=[])
    return [ds[i] for i in range(len(ds))]


@pytest.fixture(scope="module")
def marked_donor(synthetic_donors):
    """A donor whose marked keypoints are coloured discs on a grey image (2D labels only)."""
    inside = [s.hands[0] for s in synthetic_donors
              if len(s.hands) == 1 and ((s.hands[0].keypoints_2d > 8) & (s.hands[0].keypoints_2d < 248)).all()]
    hand = inside[0]
    image = np.full((256, 256, 3), 128, np.uint8)
    for k, colour in MARKED.items():
        u, v = hand.keypoints_2d[k]
        cv2.circle(image, (int(u), int(v)), 7, colour, -1)
    label = HandLabel(keypoints_2d=hand.keypoints_2d, valid=hand.valid, visibility=np.ones(21, bool),
                      handedness=hand.handedness)
    return Sample(hands=[label], image=image, dataset="marked")


def test_pasted_keypoints_sit_on_the_pasted_pixels(marked_donor):
    ds = ComposedHands([[marked_donor]], length=20, seed=1, image_size=(256, 256), hand_count_weights=(0.0, 1.0),
                       hand_size=(0.35, 0.6), colour_gain=(1.0, 1.0), base_probability=0.0, photo_probability=0.0)
    colours = np.array(list(MARKED.values()), float)
    checked = 0
    for i in range(len(ds)):
        sample = ds[i]
        assert sample.all_hands_labelled and sample.image.shape == (256, 256, 3)
        for hand in sample.hands:
            for n, k in enumerate(MARKED):
                u, v = hand.keypoints_2d[k]
                if not (4 <= u < 252 and 4 <= v < 252):
                    continue
                pixel = sample.image[int(v), int(u)].astype(float)
                distances = np.abs(colours - pixel).max(axis=1)
                assert np.argmin(distances) == n and distances[n] < 90, (i, k, pixel)
                checked += 1
    assert checked >= 40


def test_flipped_and_rotated_hands_keep_model_consistent_labels(synthetic_donors):
    models = {s: HandModel(s) for s in ("left", "right")}
    ds = ComposedHands([synthetic_donors], length=12, seed=2, image_size=(320, 240), hand_count_weights=(0, 0, 1),
                       flip_probability=0.5, rotate_deg=60.0, base_probability=0.0, photo_probability=0.0)
    donor_sides = {h.handedness for s in synthetic_donors for h in s.hands}
    sides = set()
    hands = 0
    for i in range(len(ds)):
        sample = ds[i]
        for hand in sample.hands:
            hands += 1
            sides.add(hand.handedness)
            with torch.no_grad():
                out = models[hand.handedness](
                    betas=torch.from_numpy(hand.shape)[None], global_orient=torch.from_numpy(hand.pose[:3])[None],
                    hand_pose=torch.from_numpy(hand.pose[3:])[None], transl=torch.from_numpy(hand.transl)[None])
            # the (possibly swapped) side, mirrored pose and shifted translation reproduce the 3D label
            assert np.abs(out.keypoints[0].numpy() - hand.keypoints_3d).max() < 2e-4
            # the 3D is approximate (module docstring): the wrist is back-projected exactly
            # through the canvas K, and the hand's projected size matches the pasted size up to
            # the perspective change of moving a close hand to another depth
            proj = project_np(hand.keypoints_3d.astype(np.float64), sample.K)
            assert np.linalg.norm(proj[0] - hand.keypoints_2d[0]) < 1e-2
            ratio = np.linalg.norm(proj - proj[0], axis=1).sum() / np.linalg.norm(
                hand.keypoints_2d - hand.keypoints_2d[0], axis=1).sum()
            assert 0.6 < ratio < 1.6
    assert hands >= 12
    assert sides == {"left", "right"} and len(donor_sides) >= 1


def test_later_pastes_occlude_earlier_hands():
    """Overlapping pastes: covered keypoints lose visibility, masks do not overlap."""
    donors = SyntheticHands(length=6, seed=9, image_size=(256, 256), hand_count_weights=(0.0, 1.0),
                            hand_size=(0.35, 0.5), background_folders=[])
    ds = ComposedHands([[donors[i] for i in range(6)]], length=30, seed=3, image_size=(192, 192),
                       hand_count_weights=(0, 0, 0, 0, 1), hand_size=(0.4, 0.6), max_overlap_iou=0.9,
                       min_visible_keypoints=1, base_probability=0.0, photo_probability=0.0)
    occluded = 0
    for i in range(len(ds)):
        sample = ds[i]
        assert 1 <= len(sample.hands) <= 4
        inside = [(h.keypoints_2d >= 0).all(axis=1) & (h.keypoints_2d < 192).all(axis=1) for h in sample.hands]
        occluded += sum(int((ins & ~h.visibility).sum()) for h, ins in zip(sample.hands, inside))
        masks = [h.mask for h in sample.hands]
        for a in range(len(masks)):
            for b in range(a + 1, len(masks)):
                overlap = (masks[a] & masks[b]).sum()
                assert overlap <= 0.03 * max(1, min(masks[a].sum(), masks[b].sum()))
    assert occluded > 0


def test_hand_counts_determinism_and_base_images(synthetic_donors):
    none = ComposedHands([synthetic_donors], length=3, hand_count_weights=(1.0,), base_probability=0.0,
                         photo_probability=0.0)
    assert all(len(none[i].hands) == 0 for i in range(3))
    ds = ComposedHands([synthetic_donors], length=4, seed=4, hand_count_weights=(0, 0, 0, 1), base_probability=0.0,
                       photo_probability=0.0)
    a, b = ds[2], ds[2]
    assert np.array_equal(a.image, b.image) and len(a.hands) == len(b.hands)
    assert not np.array_equal(ds[1].image, ds[2].image)
    with pytest.raises(IndexError):
        ds[4]
    # whole donor images as canvases keep their labelled hands
    base = ComposedHands([synthetic_donors], length=4, hand_count_weights=(1.0,), base_probability=1.0)
    assert all(len(base[i].hands) >= 1 for i in range(4))


def test_paste_mask_is_soft_and_covers_the_hand(synthetic_donors):
    hand = synthetic_donors[0].hands[0]
    alpha, inside = hand_paste_mask(hand, (256, 256), CompositionConfig())
    assert alpha.dtype == np.uint8 and inside.dtype == bool
    centre = hand.keypoints_2d[[0, 5, 9, 13, 17]].mean(axis=0).astype(int)
    assert alpha[centre[1], centre[0]] > 240
    assert 0 < (alpha[(alpha > 0) & (alpha < 255)]).size  # feathered edge
    far = np.ones((256, 256), bool)
    x0, y0, x1, y1 = hand.box()
    far[max(0, int(y0) - 40): int(y1) + 40, max(0, int(x0) - 40): int(x1) + 40] = False
    assert alpha[far].max() == 0


def test_no_usable_donor_is_an_error():
    tiny = HandLabel(keypoints_2d=np.random.default_rng(0).uniform(10, 20, (21, 2)), valid=np.ones(21, bool),
                     visibility=np.ones(21, bool), handedness="left")
    with pytest.raises(ValueError, match="donor"):
        ComposedHands([[Sample(hands=[tiny], image=np.zeros((64, 64, 3), np.uint8))]])
    with pytest.raises(ValueError):
        CompositionConfig(hand_size=(0.5, 0.1)).validate()


def test_real_hand_crops_from_the_annotated_subset(shared_data):
    from hand_mesh_core.data.readers import read_annotated_subset

    donors = read_annotated_subset(shared_data / "annotated", "onehand10k")
    ds = ComposedHands([donors], length=6, seed=0, image_size=(256, 256), hand_count_weights=(0, 0, 1),
                       min_donor_size=32.0, background_folders=[], base_probability=0.0)
    hands = [h for i in range(len(ds)) for h in ds[i].hands]
    assert len(hands) >= 6
    assert all(h.keypoints_3d is None and h.handedness in ("left", "right", None) for h in hands)
    assert all(dataclasses.asdict(h)["mask"].any() for h in hands)
