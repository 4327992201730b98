"""The synthetic multi-hand generator: labels agree with the image, the camera and the model."""

import math

import cv2
import numpy as np
import pytest
import torch

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.synthetic import SyntheticConfig, SyntheticHands
from hand_mesh_core.hand_model import HandModel

SMALL = dict(image_size=(160, 128), background_folders=[])  # procedural backgrounds: no files needed


@pytest.fixture(scope="module")
def crowded():
    """Samples with 4-6 hands each, where hands occlude each other."""
    ds = SyntheticHands(length=12, seed=5, hand_count_weights=(0, 0, 0, 0, 1, 1, 1), **SMALL)
    return ds, [ds[i] for i in range(len(ds))]


def test_same_index_same_sample_and_seeds_differ():
    ds = SyntheticHands(length=4, seed=1, **SMALL)
    a, b = ds[2], ds[2]
    np.testing.assert_array_equal(a.image, b.image)
    assert len(a.hands) == len(b.hands)
    for ha, hb in zip(a.hands, b.hands):
        np.testing.assert_array_equal(ha.keypoints_2d, hb.keypoints_2d)
        np.testing.assert_array_equal(ha.visibility, hb.visibility)
    other = SyntheticHands(length=4, seed=2, **SMALL)[2]
    assert not np.array_equal(a.image, other.image)
    assert ds[-1].sample_id == "3"
    with pytest.raises(IndexError):
        ds[4]


def test_labels_agree_with_camera_and_hand_model(crowded):
    ds, samples = crowded
    models = {s: HandModel(s).to(torch.float64) for s in ("left", "right")}
    cfg = ds.config
    for s in samples:
        w, h = s.image_size
        hfov = math.degrees(2 * math.atan(w / 2 / s.K[0, 0]))
        assert cfg.hfov_deg[0] - 1e-6 <= hfov <= cfg.hfov_deg[1] + 1e-6
        assert abs(s.K[0, 2] - w / 2) <= cfg.principal_jitter * w + 1e-9
        assert s.all_hands_labelled and s.image.shape == (h, w, 3)
        for hand in s.hands:
            np.testing.assert_allclose(project_np(hand.keypoints_3d.astype(np.float64), s.K), hand.keypoints_2d, atol=1e-2)
            with torch.no_grad():
                out = models[hand.handedness](betas=hand.shape[None], global_orient=hand.pose[None, :3],
                                              hand_pose=hand.pose[None, 3:], transl=hand.transl[None])
            np.testing.assert_allclose(out.keypoints[0].numpy(), hand.keypoints_3d, atol=1e-5)
            x0, y0, x1, y1 = hand.bbox  # box of the projected mesh holds the keypoints
            kp = hand.keypoints_2d
            assert (kp[:, 0] >= x0 - 1).all() and (kp[:, 0] <= x1 + 1).all()
            assert (kp[:, 1] >= y0 - 1).all() and (kp[:, 1] <= y1 + 1).all()


def test_visible_keypoints_land_in_their_hand_and_covered_ones_are_hidden(crowded):
    _, samples = crowded
    hidden_by_other_hand = 0
    for s in samples:
        w, h = s.image_size
        for a, hand in enumerate(s.hands):
            own = cv2.dilate(hand.mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # 2 px for tips on the outline
            px = np.floor(hand.keypoints_2d).astype(int)
            inside = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
            assert not (hand.visibility & ~inside).any()  # outside the image: never visible
            for j in np.nonzero(inside)[0]:
                x, y = px[j]
                if hand.visibility[j] and j != 0:  # the wrist may be seen on its own forearm
                    assert own[y, x], f"sample {s.sample_id} hand {a} keypoint {j} visible outside its mask"
                others = [b for b, o in enumerate(s.hands) if b != a and o.mask[y, x]]
                if others and not own[y, x]:
                    # another hand is the nearest surface there and this hand is nowhere near: hidden
                    assert not hand.visibility[j]
                    hidden_by_other_hand += 1
    assert hidden_by_other_hand > 0  # the check above did run on real occlusions


def test_zero_hands_and_balanced_sides():
    empty = SyntheticHands(length=3, hand_count_weights=(1.0,), **SMALL)
    for s in empty:
        assert s.hands == [] and s.image.std() > 0  # a background only
    ds = SyntheticHands(length=40, seed=9, hand_count_weights=(0, 0, 0, 0, 0, 0, 1),
                        image_size=(96, 96), background_folders=[], forearm_probability=0.0)
    sides = [h.handedness for i in range(len(ds)) for h in ds[i].hands]
    assert len(sides) > 150
    assert 0.4 < sides.count("left") / len(sides) < 0.6


def test_config_is_checked():
    with pytest.raises(ValueError):
        SyntheticHands(hfov_deg=(90.0, 40.0))
    with pytest.raises(ValueError):
        SyntheticHands(hand_count_weights=(0.0, 0.0))
    with pytest.raises(TypeError):
        SyntheticHands(not_a_field=1)
    assert SyntheticConfig().image_size == (384, 384)


def test_works_as_a_map_style_dataset():
    ds = SyntheticHands(length=2, **SMALL)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0)
    samples = list(loader)
    assert len(samples) == 2 and samples[0].dataset == "synthetic"
