"""Per-vertex Lambertian shading under order-2 spherical-harmonic (SH) lighting.

The single-stage network predicts, per hand, a per-vertex albedo and 27 lighting numbers
(9 SH coefficients x RGB, ``../shared/notes/method.md``). This module turns them into
per-vertex colours that the soft rasterizer then interpolates (Gouraud shading).

Conventions:

* Normals are unit vectors in the camera optical frame (REP-103: x right, y down,
  z forward), so the lighting coefficients are expressed in that frame too: a light shining
  from the camera towards the scene illuminates surfaces whose normals point to ``-z``.
* Faces are wound counter-clockwise when seen from outside the surface (glTF, MANO), so the
  cross product ``(v1 - v0) x (v2 - v0)`` points outwards.
* SH coefficients: ``[..., 3, 9]`` (channel R, G, B; then the 9 coefficients in the order
  ``(l, m) = (0,0), (1,-1), (1,0), (1,1), (2,-2), (2,-1), (2,0), (2,1), (2,2)``). A flat
  ``[..., 27]`` vector is read channel-major (R's 9, then G's 9, then B's 9).

Formulas (Ramamoorthi & Hanrahan, "An Efficient Representation for Irradiance Environment
Maps", SIGGRAPH 2001): real SH basis ``Y_lm`` with the constants of their eq. 3; irradiance
``E(n) = sum_lm A_l L_lm Y_lm(n)`` with ``A_0 = pi``, ``A_1 = 2 pi / 3``, ``A_2 = pi / 4``
(their eq. 8-9); Lambertian outgoing radiance ``B = albedo * E / pi``. With this scaling a
uniform environment of radiance ``c`` (``L_00 = c * sqrt(4 pi)``, see :func:`uniform_sh`)
gives ``B = albedo * c``: colours stay in the albedo's range.
"""

from __future__ import annotations

import math

import torch

#: Real SH normalisation constants (Ramamoorthi & Hanrahan 2001, eq. 3).
SH_C0 = 0.282095  # Y_00
SH_C1 = 0.488603  # Y_1m / {y, z, x}
SH_C2 = 1.092548  # Y_2-2 / xy, Y_2-1 / yz, Y_21 / xz
SH_C3 = 0.315392  # Y_20 / (3 z^2 - 1)
SH_C4 = 0.546274  # Y_22 / (x^2 - y^2)

#: Convolution of the clamped cosine with each SH band (Ramamoorthi & Hanrahan 2001, eq. 9).
SH_BAND_FACTORS = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)

#: Number of SH coefficients per colour channel for order 2 (bands 0, 1, 2).
NUM_SH_COEFFS = 9


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Unit per-vertex normals: area-weighted mean of the incident faces' normals.

    Args:
        vertices: ``[..., V, 3]`` float, any frame (the normals come out in the same frame).
        faces: ``[F, 3]`` or ``[..., F, 3]`` long vertex indices, counter-clockwise seen from
            outside (normals then point outwards).
        eps: a vertex whose summed normal is shorter than this gets a zero normal instead of
            NaN (an isolated or fully degenerate vertex).

    Returns:
        ``[..., V, 3]`` unit normals, same dtype as ``vertices``.

    The face cross product ``(v1 - v0) x (v2 - v0)`` has length twice the face area, so
    summing the raw cross products weights each face by its area (the usual Gouraud
    vertex-normal estimate).

    Raises:
        ValueError: on wrong shapes or indices out of range.
    """
    if vertices.ndim < 2 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be [..., V, 3], got {tuple(vertices.shape)}")
    if faces.ndim < 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [F, 3] or [..., F, 3], got {tuple(faces.shape)}")
    num_vertices = vertices.shape[-2]
    faces = faces.long()
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num_vertices):
        raise ValueError(f"face indices must be in [0, {num_vertices}), got [{int(faces.min())}, {int(faces.max())}]")
    batch_shape = vertices.shape[:-2]
    flat_vertices = vertices.reshape(-1, num_vertices, 3)
    batch = flat_vertices.shape[0]
    if faces.ndim > 2:
        flat_faces = faces.expand(*batch_shape, *faces.shape[-2:]).reshape(batch, faces.shape[-2], 3)
    else:
        flat_faces = faces.unsqueeze(0).expand(batch, -1, 3)
    tri = _gather_triangles(flat_vertices, flat_faces)
    face_normals = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    offsets = (torch.arange(batch, device=vertices.device) * num_vertices).view(batch, 1, 1)
    index = (flat_faces + offsets).reshape(-1)
    summed = torch.zeros(batch * num_vertices, 3, dtype=vertices.dtype, device=vertices.device)
    summed = summed.index_add(0, index, face_normals.unsqueeze(2).expand(-1, -1, 3, -1).reshape(-1, 3))
    length = summed.norm(dim=-1, keepdim=True)
    normals = torch.where(length > eps, summed / length.clamp_min(eps), torch.zeros_like(summed))
    return normals.reshape(*batch_shape, num_vertices, 3)


def _gather_triangles(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``[B, V, 3]`` vertices and ``[B, F, 3]`` faces -> ``[B, F, 3 (corner), 3 (xyz)]``."""
    batch, num_faces = faces.shape[:2]
    index = faces.reshape(batch, num_faces * 3, 1).expand(-1, -1, vertices.shape[-1])
    return torch.gather(vertices, 1, index).reshape(batch, num_faces, 3, vertices.shape[-1])


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """The 9 real SH basis functions of order 2 evaluated at unit directions.

    Args:
        normals: ``[..., 3]`` unit vectors ``(x, y, z)``.

    Returns:
        ``[..., 9]`` values ``Y_lm(n)`` in the order documented in the module docstring
        (Ramamoorthi & Hanrahan 2001, eq. 3).
    """
    if normals.shape[-1] != 3:
        raise ValueError(f"normals must be [..., 3], got {tuple(normals.shape)}")
    x, y, z = normals.unbind(-1)
    return torch.stack(
        [
            torch.full_like(x, SH_C0),
            SH_C1 * y,
            SH_C1 * z,
            SH_C1 * x,
            SH_C2 * x * y,
            SH_C2 * y * z,
            SH_C3 * (3.0 * z * z - 1.0),
            SH_C2 * x * z,
            SH_C4 * (x * x - y * y),
        ],
        dim=-1,
    )


def as_sh_coefficients(sh: torch.Tensor) -> torch.Tensor:
    """Return SH lighting as ``[..., 3, 9]``; accepts ``[..., 3, 9]`` or flat ``[..., 27]``.

    A flat vector is read channel-major (R's 9 coefficients, then G's, then B's).
    Raises ``ValueError`` for any other trailing shape.
    """
    if sh.shape[-1] == 3 * NUM_SH_COEFFS:
        return sh.reshape(*sh.shape[:-1], 3, NUM_SH_COEFFS)
    if sh.ndim >= 2 and sh.shape[-2:] == (3, NUM_SH_COEFFS):
        return sh
    raise ValueError(f"SH lighting must be [..., 27] or [..., 3, 9], got {tuple(sh.shape)}")


def sh_irradiance(normals: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
    """Irradiance ``E(n) = sum_lm A_l L_lm Y_lm(n)`` per colour channel.

    Args:
        normals: ``[..., N, 3]`` unit normals (camera optical frame).
        sh: lighting ``[..., 3, 9]`` or ``[..., 27]`` (see :func:`as_sh_coefficients`), the
            leading dimensions broadcastable against ``normals[..., 0, 0]``.

    Returns:
        ``[..., N, 3]`` irradiance (same units as the SH radiance times steradians).
    """
    coeffs = as_sh_coefficients(sh)
    bands = torch.tensor(
        [SH_BAND_FACTORS[0]] + [SH_BAND_FACTORS[1]] * 3 + [SH_BAND_FACTORS[2]] * 5,
        dtype=coeffs.dtype,
        device=coeffs.device,
    )
    weighted = coeffs * bands  # [..., 3, 9]
    return sh_basis(normals) @ weighted.transpose(-1, -2)  # [..., N, 9] @ [..., 9, 3]


def expand_albedo(albedo: torch.Tensor | None, num_meshes: int, num_vertices: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Per-vertex albedo as ``[M, V, 3]``: accepts ``[M, V, 3]``, shared ``[V, 3]`` or None (white).

    Raises ``ValueError`` for any other shape.
    """
    if albedo is None:
        return torch.ones(num_meshes, num_vertices, 3, dtype=dtype, device=device)
    if albedo.shape not in ((num_meshes, num_vertices, 3), (num_vertices, 3)):
        raise ValueError(f"albedo must be [{num_meshes}, {num_vertices}, 3] or [{num_vertices}, 3], got {tuple(albedo.shape)}")
    return albedo.to(dtype=dtype, device=device).expand(num_meshes, num_vertices, 3)


def shade_vertices(normals: torch.Tensor, albedo: torch.Tensor | None, sh: torch.Tensor) -> torch.Tensor:
    """Lambertian per-vertex colour ``albedo * E(n) / pi`` (Ramamoorthi & Hanrahan 2001).

    Args:
        normals: ``[M, V, 3]`` unit vertex normals in the camera optical frame.
        albedo: ``[M, V, 3]`` or ``[V, 3]`` (shared) linear RGB reflectance, usually in
            ``[0, 1]``; ``None`` means white (1).
        sh: ``[M, 3, 9]`` / ``[M, 27]`` per-mesh lighting, or ``[3, 9]`` / ``[27]`` shared.

    Returns:
        ``[M, V, 3]`` colours, same dtype as ``normals``. No clamping: callers that need
        displayable colours clamp themselves (clamping here would kill gradients).

    Raises:
        ValueError: on shapes that do not match ``normals``.
    """
    if normals.ndim != 3 or normals.shape[-1] != 3:
        raise ValueError(f"normals must be [M, V, 3], got {tuple(normals.shape)}")
    num_meshes, num_vertices = normals.shape[:2]
    albedo = expand_albedo(albedo, num_meshes, num_vertices, dtype=normals.dtype, device=normals.device)
    coeffs = as_sh_coefficients(sh.to(normals.dtype))
    if coeffs.ndim == 2:
        coeffs = coeffs.expand(num_meshes, 3, NUM_SH_COEFFS)
    if coeffs.ndim != 3 or coeffs.shape[0] != num_meshes:
        raise ValueError(f"SH lighting must be given for {num_meshes} meshes or shared, got {tuple(sh.shape)}")
    return albedo * sh_irradiance(normals, coeffs) / math.pi


def uniform_sh(intensity: float | torch.Tensor = 1.0, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """SH coefficients ``[3, 9]`` of a uniform environment of radiance ``intensity``.

    ``intensity`` is a scalar or an RGB triple. Only ``L_00 = intensity * sqrt(4 pi)`` is
    non-zero, which gives ``shade_vertices(...) == albedo * intensity`` for every normal:
    a convenient neutral starting point (and offset) for predicted lighting.
    """
    value = torch.as_tensor(intensity, dtype=dtype, device=device).reshape(-1)
    if value.numel() not in (1, 3):
        raise ValueError(f"intensity must be a scalar or RGB triple, got {value.numel()} values")
    coeffs = torch.zeros(3, NUM_SH_COEFFS, dtype=dtype, device=device)
    coeffs[:, 0] = value.expand(3) * math.sqrt(4.0 * math.pi)
    return coeffs
