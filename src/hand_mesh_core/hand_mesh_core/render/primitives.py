"""Closed synthetic meshes for tests and benchmarks of the renderer (no model files needed).

:func:`uv_ellipsoid` with its defaults has exactly the size of the open hand model
(1159 vertices, 2314 triangles, ``../shared/notes/hand-models.md``) and the extent of a hand
(0.18 x 0.09 x 0.03 m), so renderer costs measured on it carry over to hands.
"""

from __future__ import annotations

import math

import torch


def uv_ellipsoid(
    radii: tuple[float, float, float] = (0.09, 0.045, 0.015),
    rings: int = 13,
    segments: int = 89,
    *,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A watertight UV-sphere ellipsoid centred at the origin.

    Args:
        radii: semi-axes ``(x, y, z)`` in metres.
        rings: number of latitude rings between the poles (>= 1).
        segments: number of longitude segments (>= 3).

    Returns:
        ``(vertices [rings * segments + 2, 3], faces [2 * rings * segments, 3] long)``; faces
        are counter-clockwise seen from outside (outward cross-product normals). The
        defaults give 1159 vertices and 2314 faces.

    Raises:
        ValueError: on too few rings/segments or non-positive radii.
    """
    if rings < 1 or segments < 3:
        raise ValueError(f"need rings >= 1 and segments >= 3, got {rings}, {segments}")
    if min(radii) <= 0:
        raise ValueError(f"radii must be positive, got {radii}")
    theta = torch.arange(1, rings + 1, dtype=torch.float64) * (math.pi / (rings + 1))  # polar angle
    phi = torch.arange(segments, dtype=torch.float64) * (2.0 * math.pi / segments)
    st, ct = torch.sin(theta)[:, None], torch.cos(theta)[:, None]
    ring_points = torch.stack(
        [(st * torch.cos(phi)).expand(rings, segments), (st * torch.sin(phi)).expand(rings, segments), ct.expand(rings, segments)], dim=-1
    ).reshape(-1, 3)
    unit = torch.cat([torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), ring_points, torch.tensor([[0.0, 0.0, -1.0]], dtype=torch.float64)])
    vertices = (unit * torch.tensor(radii, dtype=torch.float64)).to(dtype)

    top, bottom = 0, rings * segments + 1
    j = torch.arange(segments)
    jn = (j + 1) % segments
    faces = [torch.stack([torch.full_like(j, top), 1 + j, 1 + jn], dim=1)]
    for r in range(rings - 1):
        a, b = 1 + r * segments + j, 1 + r * segments + jn
        c, d = a + segments, b + segments
        faces += [torch.stack([a, c, d], dim=1), torch.stack([a, d, b], dim=1)]
    last = 1 + (rings - 1) * segments
    faces.append(torch.stack([last + j, torch.full_like(j, bottom), last + jn], dim=1))
    return vertices, torch.cat(faces).long()
