"""A forearm for synthetic images: a closed, tapered elliptic cylinder attached at the wrist.

Real hands rarely float: an arm enters the image and occludes what is behind it, and a
detector that never saw one learns that a hand ends at the wrist. The forearm is a
tube from the wrist along ``axis`` (away from the fingers) whose elliptic cross-section
grows linearly from the wrist's semi-axes to the far end's, closed by two flat caps
so the z-buffer rasteriser can cull back faces.

Typical adult sizes (anthropometry, e.g. NASA-STD-3000 / ANSUR): wrist breadth about
5.5-6.5 cm and thickness 3.5-4.5 cm, forearm breadth near the elbow about 7-9 cm; the
defaults of :class:`~hand_mesh_core.data.synthetic.SyntheticConfig` draw from those ranges.
"""

from __future__ import annotations

import numpy as np


def forearm_mesh(
    wrist: np.ndarray,
    axis: np.ndarray,
    width_dir: np.ndarray,
    length: float,
    wrist_radii: tuple[float, float],
    end_radii: tuple[float, float],
    rings: int = 10,
    segments: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``[(rings + 1) * segments + 2, 3]`` and faces of a capped tapered tube.

    Args:
        wrist: ``[3]`` centre of the wrist end (metres, any frame; the output is in it).
        axis: ``[3]`` direction from the wrist towards the elbow (normalised here).
        width_dir: ``[3]`` direction of the cross-section's first semi-axis (across the
            wrist, thumb side to little-finger side); made orthogonal to ``axis``.
        length: tube length in metres (> 0).
        wrist_radii, end_radii: ``(across, thickness)`` semi-axes at each end, metres.
        rings: cross-sections along the tube minus one (>= 1); more keeps the
            triangles small, which keeps the rasteriser's bounding boxes tight.
        segments: vertices per cross-section (>= 3).

    Returns:
        ``(vertices float64, faces int64)``, faces counter-clockwise seen from outside.
        Raises ``ValueError`` for a zero axis, a ``width_dir`` parallel to it, or
        non-positive sizes.
    """
    wrist = np.asarray(wrist, np.float64)
    a = np.asarray(axis, np.float64)
    if np.linalg.norm(a) < 1e-9:
        raise ValueError("forearm axis must be non-zero")
    a = a / np.linalg.norm(a)
    u = np.asarray(width_dir, np.float64)
    u = u - a * (u @ a)
    if np.linalg.norm(u) < 1e-9:
        raise ValueError("width_dir must not be parallel to the forearm axis")
    u = u / np.linalg.norm(u)
    w = np.cross(a, u)  # (u, w, a) is right-handed
    if length <= 0 or min(*wrist_radii, *end_radii) <= 0 or rings < 1 or segments < 3:
        raise ValueError("length, radii must be positive; rings >= 1, segments >= 3")
    t = np.linspace(0.0, 1.0, rings + 1)[:, None]
    ra = wrist_radii[0] + t * (end_radii[0] - wrist_radii[0])  # [R, 1]
    rb = wrist_radii[1] + t * (end_radii[1] - wrist_radii[1])
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)[None, :]
    ring = (wrist + (t * length) * a)[:, None, :] \
        + (ra * np.cos(phi))[..., None] * u + (rb * np.sin(phi))[..., None] * w  # [R, S, 3]
    verts = np.concatenate([ring.reshape(-1, 3), wrist[None], (wrist + length * a)[None]])
    c0, c1 = len(verts) - 2, len(verts) - 1
    j = np.arange(segments)
    jn = (j + 1) % segments
    faces = []
    for r in range(rings):
        p, q = r * segments + j, r * segments + jn
        pn, qn = p + segments, q + segments
        # around w-from-u, with a along the tube: (p, q, qn) winds outward
        faces += [np.stack([p, q, qn], 1), np.stack([p, qn, pn], 1)]
    last = rings * segments
    faces.append(np.stack([np.full(segments, c0), jn, j], 1))  # wrist cap, normal -a
    faces.append(np.stack([np.full(segments, c1), last + j, last + jn], 1))  # far cap, normal +a
    return verts, np.concatenate(faces).astype(np.int64)


__all__ = ["forearm_mesh"]
