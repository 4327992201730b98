"""Backgrounds, skin albedo and lighting of the synthetic generator."""

import numpy as np
import pytest
import torch

from hand_mesh_core.data.appearance import SKIN_TONES, random_sh_lighting, skin_albedo, skin_tone
from hand_mesh_core.data.backgrounds import BackgroundSource, procedural_background
from hand_mesh_core.render.shading import shade_vertices


def test_procedural_backgrounds_are_deterministic_and_varied():
    a = procedural_background(np.random.default_rng(3), (64, 48))
    b = procedural_background(np.random.default_rng(3), (64, 48))
    c = procedural_background(np.random.default_rng(4), (64, 48))
    assert a.shape == (48, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5
    assert a.std() > 3  # a texture, not a flat colour


def test_photo_crops_come_from_the_folder(tmp_path):
    import cv2

    photo = np.zeros((200, 300, 3), np.uint8)
    photo[..., 2] = 255  # pure red in BGR on disk
    cv2.imwrite(str(tmp_path / "red.png"), photo)
    src = BackgroundSource([tmp_path], photo_probability=1.0)
    assert len(src.photos) == 1
    bg = src(np.random.default_rng(0), (40, 30))
    assert bg.shape == (30, 40, 3)
    assert bg[..., 0].min() > 150 and bg[..., 1].max() == 0 and bg[..., 2].max() == 0  # red, gain-jittered
    assert len(BackgroundSource([tmp_path / "missing"]).photos) == 0
    with pytest.raises(ValueError):
        BackgroundSource(photo_probability=1.5)


def test_skin_tones_span_light_to_dark_and_palms_are_lighter():
    rng = np.random.default_rng(0)
    tones = np.array([skin_tone(rng) for _ in range(400)])
    lum = tones.mean(axis=1)
    assert lum.min() < SKIN_TONES[-2].mean() and lum.max() > SKIN_TONES[1].mean()
    verts = rng.normal(scale=0.03, size=(200, 3))
    normals = np.zeros((200, 3))
    normals[:100, 1] = -1.0  # palm side (palm faces -y)
    normals[100:, 1] = 1.0  # back of the hand
    base = SKIN_TONES[-1]  # the darkest tone: the palm/back contrast is largest
    alb = skin_albedo(np.random.default_rng(1), verts, normals, np.array([0.0, -1.0, 0.0]), base=base)
    assert alb.shape == (200, 3) and 0 <= alb.min() and alb.max() <= 1
    assert alb[:100].mean() > alb[100:].mean() + 0.1


def test_random_lighting_lights_surfaces_facing_the_camera():
    normals = torch.tensor([[[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]])  # facing the camera, facing away
    bright = 0
    for seed in range(50):
        sh = random_sh_lighting(np.random.default_rng(seed))
        assert sh.shape == (3, 9)
        col = shade_vertices(normals, None, sh)[0]
        bright += int(col[0].mean() > col[1].mean())
    assert bright == 50  # the light is always in the camera's hemisphere
