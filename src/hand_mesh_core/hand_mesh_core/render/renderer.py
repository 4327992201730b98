"""The renderer interface the losses and the training use: meshes in, soft images out.

``Renderer(image_size).render(vertices, faces, K, albedo=None, sh=None)`` renders hand
meshes given in the camera optical frame (metres) through real intrinsics ``K`` (pixels)
and returns a :class:`RenderOutput` (soft silhouette, SH-shaded RGB, hard z-buffer).

Meshes are batched over images and over several meshes per image:

* ``vertices [B, V, 3]``: one mesh per image;
* ``vertices [M, V, 3]`` with ``mesh_to_image [M]``: any number of meshes per image
  (0 included); the number of images comes from ``K [B, 3, 3]`` or ``num_images``.
  :func:`pack_meshes` builds this form from a list of per-image ``[N_b, V, 3]`` tensors.

Backends are pluggable (:data:`BACKENDS`): a backend is a callable with the signature of
:func:`hand_mesh_core.render.rasterizer.soft_rasterize`. Only ``"torch"`` (the tiled plain
PyTorch soft rasterizer) exists: the faster GPU rasterizers (nvdiffrast, PyTorch3D, Kaolin)
do not install for the torch 2.13 wheels this project pins (``../shared/notes/hand-models.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import torch

from hand_mesh_core.camera import validate_intrinsics
from hand_mesh_core.render.rasterizer import RasterOutput, SoftRasterSettings, soft_rasterize
from hand_mesh_core.render.shading import expand_albedo, shade_vertices, vertex_normals

#: name -> rasterizer with the signature of :func:`soft_rasterize`.
BACKENDS: dict[str, Callable[..., RasterOutput]] = {"torch": soft_rasterize}


@dataclass
class RenderOutput:
    """Rendered images of a batch (``B`` images, ``H x W`` pixels).

    Attributes:
        silhouette: ``[B, H, W]`` soft coverage in [0, 1] of all meshes of each image.
        rgb: ``[B, H, W, 3]`` SH-shaded colour (linear, not clamped), background where no
            mesh is; None when neither albedo nor lighting was given.
        depth: ``[B, H, W]`` metres, nearest surface at each pixel centre (0 = background).
        face_index: ``[B, H, W]`` long, visible face of the pixel within its mesh, -1 none.
        mesh_index: ``[B, H, W]`` long, index of the visible mesh in the packed mesh list
            (for ``[B, V, 3]`` input: the image index), -1 none.
        num_pairs: pixel-face pairs evaluated (cost measure).
    """

    silhouette: torch.Tensor
    rgb: torch.Tensor | None
    depth: torch.Tensor
    face_index: torch.Tensor
    mesh_index: torch.Tensor
    num_pairs: int

    def visible_vertices(self, faces: torch.Tensor, num_meshes: int, num_vertices: int) -> torch.Tensor:
        """``[M, V]`` bool: vertices of the faces that are visible at some pixel centre.

        ``faces`` is the ``[F, 3]`` or ``[M, F, 3]`` tensor that was rendered. Useful as a
        visibility estimate for keypoints that are mesh vertices (fingertips).
        """
        hit = self.mesh_index >= 0
        mesh = self.mesh_index[hit]
        face = self.face_index[hit]
        faces = faces.long().to(mesh.device)
        corners = faces[face] if faces.ndim == 2 else faces[mesh, face]  # [N, 3]
        visible = torch.zeros(num_meshes * num_vertices, dtype=torch.bool, device=mesh.device)
        visible[(mesh.unsqueeze(1) * num_vertices + corners).reshape(-1)] = True
        return visible.reshape(num_meshes, num_vertices)


class Renderer:
    """Differentiable renderer of hand meshes (soft silhouette + SH-shaded RGB).

    Args:
        image_size: ``(width, height)`` in pixels (the project's order, as
            ``Prediction.image_size``), or one int for a square image. Output tensors are
            ``[B, height, width, ...]``.
        backend: ``"torch"`` (the only one installed; ``"auto"`` picks it).
        settings: :class:`SoftRasterSettings`; keyword overrides such as ``sigma=0.5`` may be
            given directly instead.

    Raises:
        ValueError: on a bad size or an unknown backend.
    """

    def __init__(
        self,
        image_size: int | tuple[int, int],
        backend: str = "torch",
        settings: SoftRasterSettings | None = None,
        **overrides: float | int,
    ) -> None:
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        width, height = (int(v) for v in image_size)
        if width <= 0 or height <= 0:
            raise ValueError(f"image_size must be positive (width, height), got {image_size}")
        if backend == "auto":
            backend = next(iter(BACKENDS))
        if backend not in BACKENDS:
            raise ValueError(f"unknown renderer backend {backend!r}; available: {sorted(BACKENDS)}")
        self.width, self.height = width, height
        self.backend = backend
        self.settings = replace(settings or SoftRasterSettings(), **overrides)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height

    def render(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        K: torch.Tensor | np.ndarray,
        albedo: torch.Tensor | None = None,
        sh: torch.Tensor | None = None,
        *,
        mesh_to_image: torch.Tensor | None = None,
        num_images: int | None = None,
        background: torch.Tensor | None = None,
    ) -> RenderOutput:
        """Render meshes into ``B`` images.

        Args:
            vertices: ``[B, V, 3]`` (one mesh per image) or ``[M, V, 3]`` with
                ``mesh_to_image``; metres, camera optical frame (REP-103).
            faces: ``[F, 3]`` shared or ``[M, F, 3]`` per mesh, long, counter-clockwise seen
                from outside (outward normals for shading).
            K: ``[3, 3]`` shared or ``[B, 3, 3]`` per image, pixels (tensor or array).
            albedo: per-vertex reflectance ``[M, V, 3]`` or ``[V, 3]`` (linear RGB, usually
                in [0, 1]); None = white when ``sh`` is given.
            sh: order-2 SH lighting per mesh ``[M, 27]`` / ``[M, 3, 9]`` or shared ``[27]`` /
                ``[3, 9]`` (see :mod:`hand_mesh_core.render.shading`); None = unlit (the
                colour is the albedo). With neither albedo nor sh, no RGB is rendered.
            mesh_to_image: ``[M]`` long image index of each mesh (packed form only).
            num_images: ``B`` when ``K`` is a single ``[3, 3]`` and ``mesh_to_image`` is given
                (default ``max(mesh_to_image) + 1``).
            background: RGB behind the meshes, ``[3]`` or ``[B, H, W, 3]``; default black.

        Returns:
            :class:`RenderOutput`, float32 or float64 like ``vertices`` (half precision and
            autocast are lifted to float32).

        Raises:
            ValueError: on inconsistent shapes, bad intrinsics or indices.
        """
        if not isinstance(vertices, torch.Tensor) or vertices.ndim != 3 or vertices.shape[-1] != 3:
            raise ValueError(f"vertices must be a tensor [B or M, V, 3], got {getattr(vertices, 'shape', type(vertices))}")
        if vertices.dtype in (torch.float16, torch.bfloat16):
            vertices = vertices.float()  # pixel coordinates and normals need float32
        device, dtype = vertices.device, vertices.dtype
        num_meshes = vertices.shape[0]
        K = _as_intrinsics(K, dtype, device)
        if mesh_to_image is None:
            if K.ndim == 3 and K.shape[0] != num_meshes:
                raise ValueError(f"K has {K.shape[0]} images but vertices has {num_meshes} meshes; pass mesh_to_image")
            mesh_to_image = torch.arange(num_meshes, device=device)
            batch = num_meshes
        else:
            mesh_to_image = torch.as_tensor(mesh_to_image, device=device).long()
            if mesh_to_image.shape != (num_meshes,):
                raise ValueError(f"mesh_to_image must be [{num_meshes}], got {tuple(mesh_to_image.shape)}")
            if K.ndim == 3:
                batch = K.shape[0]
                if num_images is not None and num_images != batch:
                    raise ValueError(f"num_images={num_images} but K has {batch} images")
            else:
                batch = num_images if num_images is not None else (int(mesh_to_image.max()) + 1 if num_meshes else 0)
        if num_meshes and (int(mesh_to_image.min()) < 0 or int(mesh_to_image.max()) >= batch):
            raise ValueError(f"mesh_to_image must be in [0, {batch})")
        mesh_K = K[mesh_to_image] if K.ndim == 3 else K.expand(num_meshes, 3, 3)

        with torch.autocast(device.type, enabled=False):
            faces = faces.to(device)
            colours = None
            if sh is not None:
                sh = sh.to(dtype=dtype, device=device)
                colours = shade_vertices(vertex_normals(vertices, faces), albedo, sh)
            elif albedo is not None:
                colours = expand_albedo(albedo, num_meshes, vertices.shape[1], dtype=dtype, device=device)
            raster = BACKENDS[self.backend](
                vertices,
                faces,
                mesh_K,
                mesh_to_image,
                batch,
                self.width,
                self.height,
                attributes=colours,
                background=background,
                settings=self.settings,
            )
        return RenderOutput(raster.silhouette, raster.attributes, raster.depth, raster.face_index, raster.mesh_index, raster.num_pairs)


def pack_meshes(per_image: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of ``B`` tensors ``[N_b, ...]`` (``N_b`` meshes of image ``b``, may be 0) ->
    ``(packed [sum N_b, ...], mesh_to_image [sum N_b] long)`` for :meth:`Renderer.render`.

    Also packs per-mesh albedo or lighting lists the same way. Raises ``ValueError`` on an
    empty list or mismatched trailing shapes.
    """
    if not per_image:
        raise ValueError("pack_meshes needs at least one image")
    trailing = per_image[0].shape[1:]
    if any(t.shape[1:] != trailing for t in per_image):
        raise ValueError(f"all tensors must share trailing shape {tuple(trailing)}")
    counts = torch.tensor([t.shape[0] for t in per_image], device=per_image[0].device)
    return torch.cat(per_image, dim=0), torch.repeat_interleave(torch.arange(len(per_image), device=counts.device), counts)


def _as_intrinsics(K: torch.Tensor | np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Validate ``[3, 3]`` or ``[B, 3, 3]`` intrinsics (keeps a tensor's autograd graph)."""
    if not isinstance(K, torch.Tensor):
        K = np.asarray(K, dtype=np.float64)
        if K.ndim == 3:
            K = np.stack([validate_intrinsics(k) for k in K]) if len(K) else K.reshape(0, 3, 3)
        else:
            K = validate_intrinsics(K)
        return torch.as_tensor(K, dtype=dtype, device=device)
    if K.shape[-2:] != (3, 3) or K.ndim not in (2, 3):
        raise ValueError(f"K must be [3, 3] or [B, 3, 3], got {tuple(K.shape)}")
    checked = K.detach().reshape(-1, 3, 3).cpu().double().numpy()
    for k in checked:
        validate_intrinsics(k)
    return K.to(dtype=dtype, device=device)
