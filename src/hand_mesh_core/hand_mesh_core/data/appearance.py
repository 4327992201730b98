"""Random appearance of synthetic hands: skin albedo with texture variation, SH lighting.

* Skin: a base reflectance interpolated along a palette of skin tones from very light to
  very dark (sRGB values in [0, 1], roughly the Monk skin tone scale's range, Monk 2019),
  jittered per channel; palms are lighter and pinker than the back of the hand (palmar
  skin has little melanin, most visibly on dark skin); nails lighter and pinker still;
  plus low-frequency blotches (a few random 3D sinusoids of the rest-pose vertex
  positions) and fine per-vertex noise, so no two hands share a texture.
* Lighting: order-2 spherical harmonics (the network's lighting model,
  :mod:`hand_mesh_core.render.shading`) made of a coloured ambient term plus one
  directional light. A distant light of radiance ``c`` from unit direction ``d`` has SH
  coefficients ``L_lm = c Y_lm(d)``; after the Lambertian convolution (Ramamoorthi &
  Hanrahan 2001) it approximates ``c max(n . d, 0)``.
"""

from __future__ import annotations

import numpy as np
import torch

from hand_mesh_core.render.shading import sh_basis, uniform_sh

#: Skin tones from very light to very dark, sRGB in [0, 1].
SKIN_TONES = np.array([
    [0.96, 0.84, 0.76],
    [0.91, 0.74, 0.63],
    [0.84, 0.64, 0.51],
    [0.74, 0.54, 0.40],
    [0.62, 0.43, 0.30],
    [0.48, 0.32, 0.22],
    [0.36, 0.24, 0.16],
    [0.26, 0.17, 0.12],
])
#: Palm and nail tints the base tone is blended towards.
PALM_TINT = np.array([0.93, 0.72, 0.64])
NAIL_TINT = np.array([0.95, 0.80, 0.78])


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """Base skin reflectance ``[3]``: a uniform point along :data:`SKIN_TONES`, jittered."""
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    i = min(int(t), len(SKIN_TONES) - 2)
    base = SKIN_TONES[i] + (t - i) * (SKIN_TONES[i + 1] - SKIN_TONES[i])
    return np.clip(base * rng.uniform(0.93, 1.07, 3), 0.02, 1.0)


def skin_albedo(
    rng: np.random.Generator,
    rest_vertices: np.ndarray,
    rest_normals: np.ndarray,
    palm_normal: np.ndarray,
    nail_weight: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Per-vertex albedo ``[V, 3]`` in [0, 1] for one hand.

    Args:
        rng: random source.
        rest_vertices: ``[V, 3]`` metres, the hand in its rest pose (texture coordinates).
        rest_normals: ``[V, 3]`` unit normals in the same pose.
        palm_normal: ``[3]`` unit direction the palm faces in that pose.
        nail_weight: ``[V]`` in [0, 1], how much of a nail each vertex is (None: no nails).
        base: base tone ``[3]`` (default: :func:`skin_tone`).
    """
    base = skin_tone(rng) if base is None else np.asarray(base, np.float64)
    palm = np.clip((rest_normals @ np.asarray(palm_normal)) * 1.5, 0.0, 1.0)[:, None]
    albedo = base + palm * rng.uniform(0.25, 0.6) * (PALM_TINT - base)
    if nail_weight is not None:
        albedo += np.asarray(nail_weight)[:, None] * rng.uniform(0.4, 0.8) * (NAIL_TINT - albedo)
    blotch = np.zeros(len(rest_vertices))
    for _ in range(4):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        wavelength = rng.uniform(0.015, 0.06)
        blotch += np.sin(2 * np.pi * rest_vertices @ direction / wavelength + rng.uniform(0, 2 * np.pi))
    albedo *= 1.0 + rng.uniform(0.02, 0.07) * blotch[:, None] / 2.0
    albedo *= 1.0 + rng.normal(0.0, 0.015, (len(rest_vertices), 1))
    return np.clip(albedo, 0.0, 1.0)


def random_sh_lighting(rng: np.random.Generator) -> torch.Tensor:
    """SH lighting ``[3, 9]`` (float32, optical frame): coloured ambient + one directional light.

    The direction towards the light has ``d_z <= 0`` (the camera's hemisphere; surfaces
    facing the camera have normals near ``-z``), so hands are lit from the front or the side.
    """
    ambient = rng.uniform(0.4, 0.75) * rng.uniform(0.85, 1.15, 3)
    sh = uniform_sh(torch.tensor(ambient, dtype=torch.float32))
    d = rng.normal(size=3)
    d[2] = -abs(d[2]) * rng.uniform(0.5, 2.0)
    d /= np.linalg.norm(d)
    strength = rng.uniform(0.3, 0.8) * rng.uniform(0.85, 1.15, 3)
    basis = sh_basis(torch.tensor(d, dtype=torch.float32))  # [9]
    return sh + torch.tensor(strength, dtype=torch.float32)[:, None] * basis[None, :]


__all__ = ["SKIN_TONES", "skin_tone", "skin_albedo", "random_sh_lighting"]
