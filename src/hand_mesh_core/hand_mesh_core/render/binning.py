"""Screen tiling: bin triangles into tiles and enumerate the pixel-face pairs worth computing.

A soft rasterizer compares every pixel with every face in principle (Liu et al., "Soft
Rasterizer", ICCV 2019), but a face only influences pixels within a cutoff radius of its
projection (beyond it its soft coverage is below ``dist_eps``). So the screen is cut into
square tiles; each face goes to the tiles its expanded bounding box overlaps, and within
each (tile, face) entry only the pixels inside the face's expanded box are enumerated. The
result is a flat list of pixel-face pairs, grouped tile by tile, whose size grows with the
area the meshes cover, not with ``pixels x faces``. Tiles are the unit of chunking: the
pixels of one tile only receive pairs of that tile, so a group of tiles can be processed
(and, for memory, recomputed in the backward pass) on its own.

Pixel convention (``hand_mesh_core.camera``): the centre of pixel ``(row i, column j)`` is
at ``(u, v) = (j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TileBins:
    """Pixel-face pairs grouped by screen tile (all tensors ``long``, on one device).

    Attributes:
        tile_size: tile side ``T`` in pixels.
        tiles_x: number of tile columns, ``ceil(width / T)``.
        tiles_y: number of tile rows, ``ceil(height / T)``.
        active_tiles: ``[A]`` ascending global ids of the tiles that hold at least one
            pair; global id = ``image * tiles_y * tiles_x + tile_row * tiles_x + tile_col``.
        tile_pair_offsets: ``[A + 1]``: the pairs of active tile ``a`` are
            ``pair_*[tile_pair_offsets[a]:tile_pair_offsets[a + 1]]``.
        pair_face: ``[P]`` face id (index into the caller's flat face list).
        pair_x: ``[P]`` pixel column of the pair.
        pair_y: ``[P]`` pixel row of the pair.
        pair_tile: ``[P]`` position of the pair's tile in ``active_tiles``.
    """

    tile_size: int
    tiles_x: int
    tiles_y: int
    active_tiles: torch.Tensor
    tile_pair_offsets: torch.Tensor
    pair_face: torch.Tensor
    pair_x: torch.Tensor
    pair_y: torch.Tensor
    pair_tile: torch.Tensor

    @property
    def num_pairs(self) -> int:
        """Number of pixel-face pairs ``P``."""
        return int(self.pair_face.numel())

    def pair_slot(self, first_tile: int = 0) -> torch.Tensor:
        """``[P]`` pixel slot of each pair: ``(tile - first_tile) * T^2 + row_in_tile * T + col_in_tile``.

        Slots of the active tiles ``first_tile, first_tile + 1, ...`` are laid out tile by
        tile, row-major inside a tile (see :func:`tiles_to_image`).
        """
        t = self.tile_size
        return (self.pair_tile - first_tile) * (t * t) + (self.pair_y % t) * t + (self.pair_x % t)


def bin_faces(
    box_min: torch.Tensor,
    box_max: torch.Tensor,
    face_image: torch.Tensor,
    valid: torch.Tensor,
    *,
    width: int,
    height: int,
    num_images: int,
    tile_size: int,
) -> TileBins:
    """Bin faces into screen tiles and enumerate the pixel-face pairs.

    Args:
        box_min: ``[G, 2]`` float ``(u, v)`` lower corner of each face's screen bounding
            box in pixels, already expanded by the rasterizer's cutoff radius.
        box_max: ``[G, 2]`` float upper corner, idem.
        face_image: ``[G]`` long image index of each face.
        valid: ``[G]`` bool, faces to consider (e.g. in front of the near plane).
        width, height: image size in pixels.
        num_images: number of images ``B`` (``face_image < B``).
        tile_size: tile side ``T`` in pixels (>= 1).

    Returns:
        :class:`TileBins`; a pixel is paired with a face when its centre lies inside the
        face's box. Within a tile, pairs are ordered by face id (deterministic).

    Raises:
        ValueError: on a non-positive size or mismatched shapes.
    """
    if width <= 0 or height <= 0 or tile_size <= 0 or num_images < 0:
        raise ValueError(f"bad sizes: width={width}, height={height}, tile_size={tile_size}, num_images={num_images}")
    num_faces = box_min.shape[0]
    if box_min.shape != (num_faces, 2) or box_max.shape != (num_faces, 2):
        raise ValueError(f"boxes must be [G, 2], got {tuple(box_min.shape)} and {tuple(box_max.shape)}")
    if face_image.shape != (num_faces,) or valid.shape != (num_faces,):
        raise ValueError("face_image and valid must be [G] like the boxes")
    device = box_min.device
    tiles_x = -(-width // tile_size)
    tiles_y = -(-height // tile_size)
    box_min = box_min.detach()
    box_max = box_max.detach()
    # Pixel index ranges whose centres (j + 0.5) fall inside [min, max]; clamp before the
    # integer cast so huge coordinates (faces near the camera) cannot overflow.
    x0 = torch.ceil((box_min[:, 0] - 0.5).clamp(-1.0, width)).long().clamp_min(0)
    x1 = torch.floor((box_max[:, 0] - 0.5).clamp(-1.0, width)).long().clamp_max(width - 1)
    y0 = torch.ceil((box_min[:, 1] - 0.5).clamp(-1.0, height)).long().clamp_min(0)
    y1 = torch.floor((box_max[:, 1] - 0.5).clamp(-1.0, height)).long().clamp_max(height - 1)
    finite = torch.isfinite(box_min).all(-1) & torch.isfinite(box_max).all(-1)
    keep = valid & finite & (x0 <= x1) & (y0 <= y1)
    faces = torch.nonzero(keep).squeeze(1)
    x0, x1, y0, y1 = x0[faces], x1[faces], y0[faces], y1[faces]
    tx0, tx1 = x0 // tile_size, x1 // tile_size
    ty0, ty1 = y0 // tile_size, y1 // tile_size

    # (face, tile) entries: every tile the face's box overlaps.
    span_x = tx1 - tx0 + 1
    entries_per_face = span_x * (ty1 - ty0 + 1)
    entry_face = torch.repeat_interleave(torch.arange(faces.numel(), device=device), entries_per_face)
    k = torch.arange(entry_face.numel(), device=device) - _exclusive_cumsum(entries_per_face)[entry_face]
    tx = tx0[entry_face] + k % span_x[entry_face]
    ty = ty0[entry_face] + k // span_x[entry_face]
    tile_id = face_image[faces][entry_face] * (tiles_y * tiles_x) + ty * tiles_x + tx
    tile_id, order = torch.sort(tile_id, stable=True)
    entry_face, tx, ty = entry_face[order], tx[order], ty[order]

    # Pixels of each entry: the face's box clipped to the tile.
    ex0 = torch.maximum(x0[entry_face], tx * tile_size)
    ex1 = torch.minimum(x1[entry_face], tx * tile_size + tile_size - 1)
    ey0 = torch.maximum(y0[entry_face], ty * tile_size)
    ey1 = torch.minimum(y1[entry_face], ty * tile_size + tile_size - 1)
    entry_w = ex1 - ex0 + 1
    pairs_per_entry = entry_w * (ey1 - ey0 + 1)
    pair_entry = torch.repeat_interleave(torch.arange(entry_face.numel(), device=device), pairs_per_entry)
    k = torch.arange(pair_entry.numel(), device=device) - _exclusive_cumsum(pairs_per_entry)[pair_entry]
    pair_x = ex0[pair_entry] + k % entry_w[pair_entry]
    pair_y = ey0[pair_entry] + k // entry_w[pair_entry]
    pair_face = faces[entry_face[pair_entry]]

    active_tiles, entries_per_tile = torch.unique_consecutive(tile_id, return_counts=True)
    entry_end = torch.cumsum(pairs_per_entry, 0)
    tile_last_entry = torch.cumsum(entries_per_tile, 0) - 1
    tile_pair_offsets = torch.zeros(active_tiles.numel() + 1, dtype=torch.long, device=device)
    if active_tiles.numel():
        tile_pair_offsets[1:] = entry_end[tile_last_entry]
    pair_tile = torch.repeat_interleave(torch.arange(active_tiles.numel(), device=device), torch.diff(tile_pair_offsets))
    return TileBins(
        tile_size=tile_size,
        tiles_x=tiles_x,
        tiles_y=tiles_y,
        active_tiles=active_tiles,
        tile_pair_offsets=tile_pair_offsets,
        pair_face=pair_face,
        pair_x=pair_x,
        pair_y=pair_y,
        pair_tile=pair_tile,
    )


def chunk_tiles(tile_pair_offsets: torch.Tensor, max_pairs: int) -> list[tuple[int, int]]:
    """Split the active tiles into consecutive groups of at most ``max_pairs`` pairs.

    Returns ``[(first_tile, end_tile), ...]`` (half-open ranges of active-tile positions)
    covering all tiles; a single tile with more than ``max_pairs`` pairs forms its own group.
    """
    if max_pairs <= 0:
        raise ValueError(f"max_pairs must be positive, got {max_pairs}")
    offsets = tile_pair_offsets.tolist()
    chunks: list[tuple[int, int]] = []
    start = 0
    num_tiles = len(offsets) - 1
    while start < num_tiles:
        end = start + 1
        while end < num_tiles and offsets[end + 1] - offsets[start] <= max_pairs:
            end += 1
        chunks.append((start, end))
        start = end
    return chunks


def tiles_to_image(tiles: torch.Tensor, num_images: int, tiles_y: int, tiles_x: int, height: int, width: int) -> torch.Tensor:
    """Reassemble per-tile slots into images.

    Args:
        tiles: ``[num_images * tiles_y * tiles_x, T * T, *C]`` slots of every tile, in global
            tile order, row-major inside each tile.

    Returns:
        ``[num_images, height, width, *C]`` (the padding beyond the image is cropped).
    """
    channels = tiles.shape[2:]
    t = int(round(tiles.shape[1] ** 0.5))
    grid = tiles.reshape(num_images, tiles_y, tiles_x, t, t, *channels)
    grid = grid.transpose(2, 3).reshape(num_images, tiles_y * t, tiles_x * t, *channels)
    return grid[:, :height, :width]


def image_to_tiles(image: torch.Tensor, tile_size: int) -> torch.Tensor:
    """Inverse of :func:`tiles_to_image`: ``[B, H, W, *C]`` -> ``[B * ty * tx, T * T, *C]`` (zero padded)."""
    num_images, height, width = image.shape[:3]
    channels = image.shape[3:]
    t = tile_size
    tiles_y, tiles_x = -(-height // t), -(-width // t)
    padded = image.new_zeros(num_images, tiles_y * t, tiles_x * t, *channels)
    padded[:, :height, :width] = image
    grid = padded.reshape(num_images, tiles_y, t, tiles_x, t, *channels).transpose(2, 3)
    return grid.reshape(num_images * tiles_y * tiles_x, t * t, *channels)


def _exclusive_cumsum(counts: torch.Tensor) -> torch.Tensor:
    """``[N]`` -> ``[N]`` running sum that starts at 0."""
    out = torch.zeros_like(counts)
    if counts.numel() > 1:
        out[1:] = torch.cumsum(counts[:-1], 0)
    return out
