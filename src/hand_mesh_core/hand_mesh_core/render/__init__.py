"""Differentiable rendering of hand meshes: tiled soft rasterizer and SH shading (plain PyTorch).

- :class:`Renderer` / :class:`RenderOutput` (``renderer.py``): the interface.
- :func:`soft_rasterize`, :class:`SoftRasterSettings` (``rasterizer.py``): SoftRas-style
  silhouette and colour aggregation, tiled by ``binning.py``.
- ``shading.py``: vertex normals and order-2 spherical-harmonic Lambertian shading.
- ``primitives.py``: synthetic closed meshes for tests and benchmarks.
"""

from hand_mesh_core.render.rasterizer import RasterOutput, SoftRasterSettings, soft_rasterize
from hand_mesh_core.render.renderer import BACKENDS, Renderer, RenderOutput, pack_meshes
from hand_mesh_core.render.shading import sh_basis, shade_vertices, uniform_sh, vertex_normals

__all__ = [
    "BACKENDS",
    "RasterOutput",
    "RenderOutput",
    "Renderer",
    "SoftRasterSettings",
    "pack_meshes",
    "sh_basis",
    "shade_vertices",
    "soft_rasterize",
    "uniform_sh",
    "vertex_normals",
]
