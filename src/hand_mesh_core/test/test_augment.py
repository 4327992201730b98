"""Augmentation: labels, intrinsics, 3D and hand-model parameters follow the pixels exactly."""

from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.data.augment import AugmentConfig, SampleTransform, affine_from_points, camera_transform
from hand_mesh_core.data.sample import HandLabel, Sample
from hand_mesh_core.hand_model import HandModel, named_pose
from hand_mesh_core.network.letterbox import letterbox_image

W, H, SIZE = 320, 240, 128
#: keypoints drawn as coloured discs (wrist, thumb tip, index tip, pinky tip)
MARKED = {0: (255, 255, 255), 4: (255, 0, 0), 8: (0, 255, 0), 20: (0, 0, 255)}
NO_PHOTOMETRIC = dict(colour_probability=0.0, gray_probability=0.0, blur_probability=0.0, noise_probability=0.0,
                      jpeg_probability=0.0)


@pytest.fixture(scope="module")
def models():
    return {s: HandModel(s) for s in ("left", "right")}


def _hand_sample(models, side="right", seed=0, snap=True):
    """An image whose marked keypoints are drawn as discs, and a 3D-consistent label.

    ``snap`` moves the marked keypoints (3D along their rays) to pixel centres so the discs
    are centred on them; the label then no longer equals the posed model exactly."""
    rng = np.random.default_rng(seed)
    K = intrinsics_from_fov(W, H)
    orient = (Rotation.from_euler("xyz", rng.uniform(-0.4, 0.4, 3)) *
              Rotation.from_matrix([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])).as_rotvec()
    pose = named_pose("relaxed", side).reshape(45).float()
    betas = torch.tensor(rng.normal(0, 0.5, 10), dtype=torch.float32)
    with torch.no_grad():
        out = models[side](betas=betas[None], global_orient=torch.tensor(orient, dtype=torch.float32)[None],
                           hand_pose=pose[None])
    transl = np.array([0.02, 0.0, 0.45], np.float32) - out.joints[0, 0].numpy()
    kp3d = out.keypoints[0].numpy() + transl
    # snap the marked keypoints to pixel centres so the drawn discs are centred on them
    kp2d = project_np(kp3d.astype(np.float64), K)
    for k in MARKED if snap else ():
        u, v = np.floor(kp2d[k]) + 0.5
        z = kp3d[k, 2]
        kp3d[k] = [(u - K[0, 2]) / K[0, 0] * z, (v - K[1, 2]) / K[1, 1] * z, z]
    kp2d = project_np(kp3d.astype(np.float64), K).astype(np.float32)
    image = np.full((H, W, 3), 40, np.uint8)
    for k, colour in MARKED.items():
        cv2.circle(image, (int(kp2d[k, 0]), int(kp2d[k, 1])), 8, colour, -1)
    label = HandLabel(keypoints_2d=kp2d, valid=np.ones(21, bool), visibility=np.ones(21, bool), handedness=side,
                      keypoints_3d=kp3d, pose=np.concatenate([orient, pose.numpy()]), shape=betas.numpy(),
                      transl=transl)
    return Sample(hands=[label], image=image, K=K), kp3d


def _disc_centres(image: np.ndarray) -> dict[int, np.ndarray | None]:
    out = {}
    for k, colour in MARKED.items():
        near = np.abs(image.astype(int) - colour).max(axis=2) < 60
        ys, xs = np.nonzero(near)
        out[k] = np.array([xs.mean() + 0.5, ys.mean() + 0.5]) if len(xs) > 8 else None
    return out


CASES = {
    "zoom": dict(zoom=(0.7, 1.8), rotate_deg=0.0, translate=0.0, flip_probability=0.0),
    "rotation": dict(zoom=(1.0, 1.0), rotate_deg=40.0, translate=0.0, flip_probability=0.0),
    "translation": dict(zoom=(1.0, 1.0), rotate_deg=0.0, translate=0.15, flip_probability=0.0),
    "flip": dict(zoom=(1.0, 1.0), rotate_deg=0.0, translate=0.0, flip_probability=1.0),
    "all": dict(zoom=(0.7, 1.6), rotate_deg=30.0, translate=0.1, flip_probability=0.5),
    "hand_size": dict(hand_size=(30.0, 110.0), max_upsample=4.0, rotate_deg=30.0, flip_probability=0.5),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_keypoints_intrinsics_and_3d_follow_the_image(models, case):
    sample, _ = _hand_sample(models)
    transform = SampleTransform(SIZE, AugmentConfig(**CASES[case], **NO_PHOTOMETRIC), seed=3)
    checked = 0
    for _ in range(6):
        out = transform(sample)
        if not out.hands:
            continue
        hand = out.hands[0]
        assert out.image.shape == (SIZE, SIZE, 3) and out.image.dtype == np.uint8
        for k, centre in _disc_centres(out.image).items():
            inner = (hand.keypoints_2d[k] > 12).all() and (hand.keypoints_2d[k] < SIZE - 12).all()
            if centre is None or not inner:  # a disc cut by the border has a biased centroid
                continue
            assert np.abs(centre - hand.keypoints_2d[k]).max() < 0.6, (case, k, centre, hand.keypoints_2d[k])
            checked += 1
        # 3D labels seen through the new intrinsics land on the new 2D labels
        reproj = project_np(hand.keypoints_3d.astype(np.float64), out.K)
        assert np.abs(reproj - hand.keypoints_2d).max() < 1e-2
        assert hand.handedness == ("left" if out.flipped else "right")
        if case == "flip":
            assert out.flipped
        if case in ("zoom", "rotation", "translation"):
            assert not out.flipped
    assert checked >= 6


def test_flip_and_rotation_keep_the_hand_model_parameters_consistent(models):
    """The transformed pose/shape/transl, posed with the model of the (swapped) side,
    reproduce the transformed 3D keypoints: pose mirroring, global rotation and the
    translation update are exact."""
    sample, _ = _hand_sample(models, side="right", seed=1, snap=False)
    transform = SampleTransform(SIZE, AugmentConfig(zoom=(0.8, 1.3), rotate_deg=45.0, translate=0.05,
                                                    flip_probability=0.5, **NO_PHOTOMETRIC), seed=0)
    sides = set()
    for _ in range(8):
        out = transform(sample)
        if not out.hands:
            continue
        hand = out.hands[0]
        sides.add(hand.handedness)
        with torch.no_grad():
            posed = models[hand.handedness](
                betas=torch.from_numpy(hand.shape)[None], global_orient=torch.from_numpy(hand.pose[:3])[None],
                hand_pose=torch.from_numpy(hand.pose[3:])[None], transl=torch.from_numpy(hand.transl)[None])
        assert np.abs(posed.keypoints[0].numpy() - hand.keypoints_3d).max() < 2e-4
    assert sides == {"left", "right"}


def test_disabled_augmentation_is_the_predictor_letterbox(models):
    sample, _ = _hand_sample(models)
    out = SampleTransform(SIZE, AugmentConfig(enabled=False))(sample)
    canvas, box = letterbox_image(sample.image, SIZE)
    assert np.array_equal(out.image, canvas)
    np.testing.assert_allclose(out.K, box.intrinsics(sample.K), atol=1e-6)
    np.testing.assert_allclose(out.hands[0].keypoints_2d, box.to_network(sample.hands[0].keypoints_2d), atol=1e-3)
    assert not out.flipped and out.hands[0].handedness == "right"


def test_photometric_transforms_change_pixels_not_labels(models):
    sample, _ = _hand_sample(models)
    geometry = dict(zoom=(1.0, 1.0), rotate_deg=0.0, translate=0.0, flip_probability=0.0)
    plain = SampleTransform(SIZE, AugmentConfig(**geometry, **NO_PHOTOMETRIC))(sample)
    jitter = SampleTransform(SIZE, AugmentConfig(**geometry, colour_probability=1.0, blur_probability=1.0,
                                                 noise_probability=1.0), seed=1)(sample)
    assert np.abs(plain.image.astype(int) - jitter.image.astype(int)).mean() > 1.0
    np.testing.assert_allclose(plain.hands[0].keypoints_2d, jitter.hands[0].keypoints_2d, atol=1e-4)


def test_hands_pushed_out_of_the_image_are_dropped(models):
    sample, _ = _hand_sample(models)
    hand = sample.hands[0]
    # move the label (not the pixels) far outside: after letterboxing no keypoint is visible
    away = Sample(hands=[HandLabel(keypoints_2d=hand.keypoints_2d + 2000, valid=hand.valid,
                                   visibility=np.ones(21, bool), handedness="right")], image=sample.image, K=sample.K)
    assert SampleTransform(SIZE, AugmentConfig(enabled=False))(away).hands == []


def test_camera_transform_of_a_mirror_and_bad_maps():
    K = intrinsics_from_fov(200, 100)
    ref = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mirror = affine_from_points(ref, [[200.0, 0.0], [199.0, 0.0], [200.0, 1.0]])  # u -> 200 - u
    K_new, T, flipped = camera_transform(mirror, K)
    assert flipped
    np.testing.assert_allclose(T, np.diag([-1.0, 1.0, 1.0]), atol=1e-12)
    np.testing.assert_allclose(K_new, K, atol=1e-9)  # the principal point is at the centre: unchanged
    with pytest.raises(ValueError, match="similarity"):
        camera_transform(np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), K)
    with pytest.raises(ValueError, match="singular"):
        camera_transform(np.zeros((2, 3)), K)
    with pytest.raises(ValueError):
        AugmentConfig(zoom=(2.0, 1.0)).validate()


def test_seeded_transforms_repeat_and_differently_seeded_ones_differ(models):
    sample, _ = _hand_sample(models, seed=2)
    config = AugmentConfig(zoom=(0.8, 1.3), rotate_deg=45.0, flip_probability=0.5)

    def stream(seed):
        t = SampleTransform(SIZE, config, seed=seed)
        return [t(sample) for _ in range(4)]

    a, b, c = stream(7), stream(7), stream(8)
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.affine, y.affine)
    assert any(not np.array_equal(x.affine, z.affine) for x, z in zip(a, c))
    t = SampleTransform(SIZE, config, seed=7)
    t(sample)
    t.set_random_seed(7)  # re-seeding restarts the stream
    assert np.array_equal(t(sample).affine, a[0].affine)


def test_hand_size_zoom_draws_the_hand_size_log_uniformly_within_the_range(models):
    """With ``hand_size`` the chosen hand's keypoint box becomes a size in the range (rotation
    changes the box of a rotated hand, so the bound has a margin), sizes spread over the whole
    range in log space, and the hand lies inside the input."""
    sample, _ = _hand_sample(models, snap=False)
    lo, hi = 24.0, 120.0
    transform = SampleTransform(SIZE, AugmentConfig(hand_size=(lo, hi), max_upsample=10.0, rotate_deg=0.0,
                                                    **NO_PHOTOMETRIC), seed=5)
    sizes = []
    for _ in range(60):
        out = transform(sample)
        assert len(out.hands) == 1
        kp = out.hands[0].keypoints_2d
        sizes.append(float(max(kp.max(0) - kp.min(0))))
        assert (kp >= -1.0).all() and (kp <= SIZE + 1.0).all()
    sizes = np.array(sizes)
    assert sizes.min() >= lo - 0.5 and sizes.max() <= hi + 0.5
    # log-uniform: about half of the draws below the geometric mean, both ends reached
    assert 0.3 < (sizes < np.sqrt(lo * hi)).mean() < 0.7
    assert sizes.min() < 1.3 * lo and sizes.max() > hi / 1.3


def test_hand_size_zoom_never_enlarges_the_original_beyond_max_upsample(models):
    sample, _ = _hand_sample(models, snap=False)
    kp = sample.hands[0].keypoints_2d
    original = float(max(kp.max(0) - kp.min(0)))
    transform = SampleTransform(SIZE, AugmentConfig(hand_size=(1000.0, 1000.0), max_upsample=1.5, rotate_deg=0.0,
                                                    **NO_PHOTOMETRIC), seed=0)
    out = transform(sample)
    size = float(max(out.hands[0].keypoints_2d.max(0) - out.hands[0].keypoints_2d.min(0)))
    assert size == pytest.approx(1.5 * original, rel=0.02)


def test_hand_size_rejects_a_bad_range():
    with pytest.raises(ValueError, match="hand_size"):
        AugmentConfig(hand_size=(50.0, 20.0)).validate()
    with pytest.raises(ValueError, match="max_upsample"):
        AugmentConfig(hand_size=(20.0, 50.0), max_upsample=0.0).validate()
