"""A fast, non-differentiable z-buffer rasteriser in NumPy, for generating training images.

The differentiable soft rasteriser of :mod:`hand_mesh_core.render` is built for gradients
and costs seconds per image on a CPU; making data needs only the nearest surface per
pixel, which this module computes for many meshes at once, fully vectorised:

1. project the vertices with the pinhole ``K`` (:func:`hand_mesh_core.camera.project_np`);
   faces with a vertex nearer than ``near`` are dropped, and back faces are culled
   (a face is kept when its outward normal, ``(v1 - v0) x (v2 - v0)`` for
   counter-clockwise winding seen from outside, points towards the camera), so meshes
   must be closed and consistently wound;
2. test every pixel centre ``(x + 0.5, y + 0.5)`` of each face's bounding box against the
   face with screen-space barycentric coordinates (edge functions; a pixel on a shared
   edge belongs to both faces, the z-test decides);
3. depth by interpolating ``1 / z`` linearly in screen space, and perspective-correct
   barycentrics ``(b_i / z_i) / sum_k (b_k / z_k)`` (the standard result for pinhole
   projection, e.g. Heckbert & Moreton 1991);
4. keep, per pixel, the candidate of smallest depth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hand_mesh_core.camera import project_np, validate_intrinsics

#: Twice the screen area (px^2) below which a face is skipped as degenerate.
_MIN_AREA2 = 1e-8


@dataclasses.dataclass
class Raster:
    """Nearest surface at every pixel of an ``H x W`` image.

    Attributes:
        mesh_index: int32 ``[H, W]``: index of the mesh seen at the pixel, -1 for background.
        face_index: int32 ``[H, W]``: face index within that mesh, -1 for background.
        depth: float32 ``[H, W]``: z (metres, optical frame) of the surface, 0 for background.
        bary: float32 ``[H, W, 3]``: perspective-correct barycentric coordinates of the
            pixel centre in that face (0 for background).
    """

    mesh_index: np.ndarray
    face_index: np.ndarray
    depth: np.ndarray
    bary: np.ndarray

    def interpolate(self, mesh: int, faces: np.ndarray, attributes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex ``attributes [V, C]`` of mesh ``mesh`` interpolated at its pixels.

        Returns ``(pixels_yx [P, 2] int, values [P, C])`` for the P pixels where that mesh
        is the nearest surface.
        """
        ys, xs = np.nonzero(self.mesh_index == mesh)
        tri = np.asarray(faces)[self.face_index[ys, xs]]  # [P, 3]
        b = self.bary[ys, xs]  # [P, 3]
        values = np.einsum("pk,pkc->pc", b, np.asarray(attributes)[tri])
        return np.stack([ys, xs], axis=1), values


def rasterize(
    vertices: Sequence[np.ndarray],
    faces: Sequence[np.ndarray],
    K: np.ndarray,
    image_size: tuple[int, int],
    near: float = 0.01,
) -> Raster:
    """Z-buffer several triangle meshes into one ``(W, H)`` image.

    Args:
        vertices: per mesh ``[V_i, 3]`` metres in the camera optical frame.
        faces: per mesh int ``[F_i, 3]`` vertex indices, counter-clockwise seen from outside.
        K: ``[3, 3]`` intrinsics (pixels).
        image_size: ``(width, height)``.
        near: faces with a vertex at ``z < near`` metres are dropped.

    Returns:
        A :class:`Raster`. Raises ``ValueError`` for mismatched lists, bad shapes, an
        invalid ``K`` or a non-positive size.
    """
    if len(vertices) != len(faces):
        raise ValueError(f"{len(vertices)} vertex arrays for {len(faces)} face arrays")
    K = validate_intrinsics(K)
    width, height = (int(v) for v in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    empty = Raster(
        np.full((height, width), -1, np.int32), np.full((height, width), -1, np.int32),
        np.zeros((height, width), np.float32), np.zeros((height, width, 3), np.float32),
    )
    if not len(vertices):
        return empty
    all_v, all_f, mesh_of, local_f = [], [], [], []
    offset = 0
    for i, (v, f) in enumerate(zip(vertices, faces)):
        v = np.asarray(v, np.float64)
        f = np.asarray(f, np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
            raise ValueError(f"mesh {i}: vertices must be [V, 3] and faces [F, 3], got {v.shape}, {f.shape}")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise ValueError(f"mesh {i}: face indices out of range for {len(v)} vertices")
        all_v.append(v)
        all_f.append(f + offset)
        mesh_of.append(np.full(len(f), i, np.int32))
        local_f.append(np.arange(len(f), dtype=np.int32))
        offset += len(v)
    V = np.concatenate(all_v)
    F = np.concatenate(all_f)
    mesh_of = np.concatenate(mesh_of)
    local_f = np.concatenate(local_f)
    tri3 = V[F]  # [F, 3, 3]
    z = tri3[..., 2]
    normal = np.cross(tri3[:, 1] - tri3[:, 0], tri3[:, 2] - tri3[:, 0])
    keep = (z.min(axis=1) >= near) & ((normal * tri3.mean(axis=1)).sum(axis=1) < 0)
    uv = project_np(V, K)[F]  # [F, 3, 2]
    x0, y0 = uv[:, 0, 0], uv[:, 0, 1]
    e1, e2 = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    keep &= np.abs(area2) > _MIN_AREA2
    # pixel index ranges whose centres (i + 0.5) can fall inside the face
    xmin = np.maximum(np.ceil(uv[..., 0].min(axis=1) - 0.5), 0)
    xmax = np.minimum(np.floor(uv[..., 0].max(axis=1) - 0.5), width - 1)
    ymin = np.maximum(np.ceil(uv[..., 1].min(axis=1) - 0.5), 0)
    ymax = np.minimum(np.floor(uv[..., 1].max(axis=1) - 0.5), height - 1)
    keep &= (xmax >= xmin) & (ymax >= ymin)
    idx = np.nonzero(keep)[0]
    if not len(idx):
        return empty
    bw = (xmax[idx] - xmin[idx] + 1).astype(np.int64)
    bh = (ymax[idx] - ymin[idx] + 1).astype(np.int64)
    counts = bw * bh
    face = np.repeat(idx, counts)  # candidate pairs
    start = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(len(face)) - start
    bwr = np.repeat(bw, counts)
    px = np.repeat(xmin[idx], counts).astype(np.int64) + k % bwr
    py = np.repeat(ymin[idx], counts).astype(np.int64) + k // bwr
    # screen-space barycentrics of the pixel centre
    dx = px + 0.5 - x0[face]
    dy = py + 0.5 - y0[face]
    inv_a = 1.0 / area2[face]
    b1 = (dx * e2[face, 1] - dy * e2[face, 0]) * inv_a
    b2 = (e1[face, 0] * dy - e1[face, 1] * dx) * inv_a
    b0 = 1.0 - b1 - b2
    inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0)
    face, px, py = face[inside], px[inside], py[inside]
    b = np.stack([b0[inside], b1[inside], b2[inside]], axis=1) / z[face]  # b_i / z_i
    inv_depth = b.sum(axis=1)
    depth = 1.0 / inv_depth
    pix = py * width + px
    order = np.lexsort((depth, pix))
    first = np.unique(pix[order], return_index=True)[1]
    win = order[first]
    out = empty
    wy, wx = py[win], px[win]
    out.mesh_index[wy, wx] = mesh_of[face[win]]
    out.face_index[wy, wx] = local_f[face[win]]
    out.depth[wy, wx] = depth[win]
    out.bary[wy, wx] = b[win] / inv_depth[win, None]
    return out


__all__ = ["Raster", "rasterize"]
