"""Training targets of the single-stage network, built from per-hand labels.

Input: for each image of a batch, the :class:`~hand_mesh_core.data.sample.HandLabel` list of
its hands, with every 2D quantity already in *network-input* pixels (the image letterboxed
or augmented to ``input_size x input_size``; labels moved with it) and ``K_net`` the
intrinsics of that network input, 3D in metres in the camera optical frame.

Per hand (Ren, Zhu, Zhang, CVIU 2023, and their code):

- centre: the mean of the *visible* 2D keypoints (of the valid ones when none is visible);
  its cell ``floor(centre / stride)`` (clamped into the map) is where the per-hand heads are
  read and supervised, and where the centre heatmap peaks;
- Gaussian radius from the hand's size: :func:`~hand_mesh_core.losses.heatmap.gaussian_radius`
  of the keypoint box (or the labelled box) in map cells (CornerNet / CenterNet);
- handedness: the same Gaussian in the channel of the hand's side; a hand of unknown side
  masks its window out of the handedness loss (both channels), instead of teaching
  "neither side" there;
- keypoint weights: 1 for a visible keypoint, :data:`OCCLUDED_KEYPOINT_WEIGHT` for a known
  but occluded one (its position is a label or a projection of 3D ground truth, but less
  certain for hand-annotated data), 0 when unknown. Ours: the authors weight all alike.

A hand without any valid 2D keypoint and without a box cannot be located and is skipped.

Keypoint heatmaps (ours, for the optional keypoint head): built from the per-hand targets
by :func:`keypoint_heatmap_targets` where the loss is computed, so batches carry no extra
maps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from hand_mesh_core.losses.heatmap import gaussian_radius, render_gaussians

#: Weight of a keypoint whose position is known but which is occluded / outside the image.
OCCLUDED_KEYPOINT_WEIGHT = 0.5

#: Minimum IoU of the box shift defining the Gaussian radius (CornerNet / CenterNet).
MIN_OVERLAP = 0.7

#: Radius of a keypoint's Gaussian as a fraction of its hand's size (the longer side of the
#: box of its known keypoints), in cells, clamped to :data:`KEYPOINT_RADIUS_RANGE`. Ours:
#: about half the length of a finger segment, so that neighbouring joints stay apart.
KEYPOINT_RADIUS_FRACTION = 0.08
KEYPOINT_RADIUS_RANGE = (1.0, 4.0)


@dataclasses.dataclass
class Targets:
    """Targets of a batch of ``B`` images with ``N`` located hands in total.

    Maps (output cells, ``h = w = input_size / stride``):
        centre ``[B, 1, h, w]``, handedness ``[B, 2, h, w]`` (channel 0 left, 1 right),
        handedness_mask ``[B, 2, h, w]`` (1 = the cell counts in the handedness loss).
    Per image:
        K ``[B, 3, 3]`` float32 intrinsics of the network input;
        hand_mask ``[B, S, S]`` float32 union of the hands' masks (network pixels), and
        mask_valid ``[B]`` bool (every hand of the image has a mask; else hand_mask is 0).
    Per hand (index order: image by image, label order):
        batch_index ``[N]`` long, cells ``[N, 2]`` long (row, col), side_known ``[N]`` bool,
        is_right ``[N]`` bool (False where unknown), keypoints_2d ``[N, 21, 2]`` network
        pixels, keypoint_weight ``[N, 21]``, has_3d ``[N]`` bool, keypoints_3d
        ``[N, 21, 3]`` metres (0 where absent), has_vertices ``[N]`` bool, vertices
        ``[N, V, 3]`` metres and vertices_root ``[N, 3]`` (their model's wrist joint), both
        None when no hand has them.
    """

    centre: torch.Tensor
    handedness: torch.Tensor
    handedness_mask: torch.Tensor
    K: torch.Tensor
    hand_mask: torch.Tensor
    mask_valid: torch.Tensor
    batch_index: torch.Tensor
    cells: torch.Tensor
    side_known: torch.Tensor
    is_right: torch.Tensor
    keypoints_2d: torch.Tensor
    keypoint_weight: torch.Tensor
    has_3d: torch.Tensor
    keypoints_3d: torch.Tensor
    has_vertices: torch.Tensor
    vertices: torch.Tensor | None
    vertices_root: torch.Tensor | None

    def to(self, device: torch.device | str) -> Targets:
        """A copy with every tensor on ``device``."""
        return dataclasses.replace(
            self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                     if isinstance(getattr(self, f.name), torch.Tensor)}
        )


def hand_centre(label) -> np.ndarray | None:
    """Centre (pixels) of a :class:`HandLabel`: mean of the visible keypoints, else of the
    valid ones, else the centre of its box; None when none of these exists."""
    if label.visibility.any():
        return label.keypoints_2d[label.visibility].mean(axis=0)
    if label.valid.any():
        return label.keypoints_2d[label.valid].mean(axis=0)
    if label.bbox is not None:
        x0, y0, x1, y1 = label.bbox
        return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0], np.float32)
    return None


def build_targets(
    hands_per_image: Sequence[Sequence],
    K_net: np.ndarray | torch.Tensor,
    input_size: int,
    stride: int = 4,
    hand_models: Mapping[str, torch.nn.Module] | None = None,
) -> Targets:
    """Targets of a batch from its labels (see the module docstring).

    Args:
        hands_per_image: ``B`` sequences of :class:`~hand_mesh_core.data.sample.HandLabel`,
            2D in network-input pixels.
        K_net: ``[B, 3, 3]`` intrinsics of the network inputs (pixels).
        input_size: side of the square network input (pixels), a multiple of ``stride``.
        stride: pixels per output cell (4).
        hand_models: ``{"left", "right"}`` hand models; when given, hands labelled with
            ``pose``, ``shape`` and ``transl`` get vertex targets from them. Give them only
            when those parameters refer to the same hand model (synthetic data rendered with
            it), never for MANO-fitted datasets with the open model.

    Returns:
        :class:`Targets` (CPU tensors). Raises ``ValueError`` for inconsistent sizes, a mask
        of the wrong size, or a ``K_net`` of the wrong shape.
    """
    B = len(hands_per_image)
    K_net = torch.as_tensor(np.asarray(K_net, dtype=np.float32)) if not isinstance(K_net, torch.Tensor) else K_net.float()
    if K_net.shape != (B, 3, 3):
        raise ValueError(f"K_net must be [{B}, 3, 3], got {tuple(K_net.shape)}")
    if input_size <= 0 or input_size % stride:
        raise ValueError(f"input_size {input_size} must be a positive multiple of stride {stride}")
    h = w = input_size // stride
    centre = torch.zeros(B, 1, h, w)
    handedness = torch.zeros(B, 2, h, w)
    handedness_mask = torch.ones(B, 2, h, w)
    hand_mask = torch.zeros(B, input_size, input_size)
    mask_valid = torch.zeros(B, dtype=torch.bool)
    rows: list[dict] = []
    for b, hands in enumerate(hands_per_image):
        cells, radii, sides = [], [], []
        masks_ok = len(hands) > 0
        for label in hands:
            mask = label.load_mask()
            if mask is None:
                masks_ok = False
            else:
                if mask.shape != (input_size, input_size):
                    raise ValueError(f"hand mask is {mask.shape}, network input is {input_size}x{input_size}")
                hand_mask[b] = torch.maximum(hand_mask[b], torch.from_numpy(mask.astype(np.float32)))
            c = hand_centre(label)
            if c is None:
                continue
            cell = np.clip(np.floor(np.asarray(c) / stride), 0, [w - 1, h - 1]).astype(np.int64)  # (col, row)
            x0, y0, x1, y1 = label.box()
            radius = gaussian_radius((y1 - y0) / stride, (x1 - x0) / stride, MIN_OVERLAP)
            cells.append((int(cell[1]), int(cell[0])))
            radii.append(radius)
            sides.append(label.handedness)
            weight = np.where(label.visibility, 1.0, np.where(label.valid, OCCLUDED_KEYPOINT_WEIGHT, 0.0))
            rows.append(dict(b=b, cell=cells[-1], label=label, weight=weight))
        mask_valid[b] = masks_ok
        if not masks_ok:
            hand_mask[b] = 0.0
        if not cells:
            continue
        cell_t = torch.tensor(cells, dtype=torch.long)
        radius_t = torch.tensor(radii, dtype=torch.float32)
        centre[b, 0] = render_gaussians(cell_t, radius_t, (h, w))
        for ch, side in enumerate(("left", "right")):
            sel = [i for i, s in enumerate(sides) if s == side]
            if sel:
                handedness[b, ch] = render_gaussians(cell_t[sel], radius_t[sel], (h, w))
        unknown = [i for i, s in enumerate(sides) if s is None]
        if unknown:
            window = render_gaussians(cell_t[unknown], radius_t[unknown], (h, w)) > 0
            handedness_mask[b, :, window] = 0.0
    return _per_hand(rows, centre, handedness, handedness_mask, K_net, hand_mask, mask_valid, hand_models)


def _per_hand(rows, centre, handedness, handedness_mask, K_net, hand_mask, mask_valid, hand_models) -> Targets:
    n = len(rows)
    kp3d = torch.zeros(n, 21, 3)
    has_3d = torch.zeros(n, dtype=torch.bool)
    for i, r in enumerate(rows):
        if r["label"].keypoints_3d is not None:
            kp3d[i] = torch.from_numpy(r["label"].keypoints_3d)
            has_3d[i] = True
    vertices, vertices_root, has_vertices = _vertex_targets([r["label"] for r in rows], hand_models)
    return Targets(
        centre=centre,
        handedness=handedness,
        handedness_mask=handedness_mask,
        K=K_net,
        hand_mask=hand_mask,
        mask_valid=mask_valid,
        batch_index=torch.tensor([r["b"] for r in rows], dtype=torch.long),
        cells=torch.tensor([r["cell"] for r in rows], dtype=torch.long).reshape(n, 2),
        side_known=torch.tensor([r["label"].handedness is not None for r in rows], dtype=torch.bool),
        is_right=torch.tensor([r["label"].handedness == "right" for r in rows], dtype=torch.bool),
        keypoints_2d=torch.from_numpy(np.stack([r["label"].keypoints_2d for r in rows]) if n else np.zeros((0, 21, 2), np.float32)),
        keypoint_weight=torch.from_numpy(np.stack([r["weight"] for r in rows]).astype(np.float32) if n else np.zeros((0, 21), np.float32)),
        has_3d=has_3d,
        keypoints_3d=kp3d,
        has_vertices=has_vertices,
        vertices=vertices,
        vertices_root=vertices_root,
    )


def _vertex_targets(labels, hand_models) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """Vertices and wrist joints of labels with pose/shape/transl, from ``hand_models``."""
    n = len(labels)
    has = torch.tensor(
        [hand_models is not None and l.pose is not None and l.shape is not None and l.transl is not None
         and l.handedness is not None for l in labels],
        dtype=torch.bool,
    ).reshape(n)
    if not bool(has.any()):
        return None, None, has
    model = hand_models["right"]
    vertices = torch.zeros(n, int(model.num_vertices), 3)
    roots = torch.zeros(n, 3)
    with torch.no_grad():
        for i in has.nonzero()[:, 0].tolist():
            l = labels[i]
            m = hand_models[l.handedness]
            out = m(
                betas=torch.from_numpy(l.shape)[None],
                global_orient=torch.from_numpy(l.pose[:3])[None],
                hand_pose=torch.from_numpy(l.pose[3:])[None],
                transl=torch.from_numpy(l.transl)[None],
            )
            vertices[i] = out.vertices[0].float().cpu()
            roots[i] = out.joints[0, 0].float().cpu()
    return vertices, roots, has


def keypoint_heatmap_targets(
    keypoints_2d: torch.Tensor,
    keypoint_weight: torch.Tensor,
    batch_index: torch.Tensor,
    num_images: int,
    map_size: tuple[int, int],
    stride: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and mask of the 21-channel keypoint heatmaps from the per-hand labels.

    Channel ``j`` of image ``b`` holds a Gaussian (:func:`~hand_mesh_core.losses.heatmap.render_gaussians`
    drawing, maximum over hands) peaking at 1 on the cell ``floor(keypoint / stride)`` of
    keypoint ``j`` of every hand of that image whose keypoint is known (weight > 0), with
    radius ``KEYPOINT_RADIUS_FRACTION`` x the hand's size in cells (clamped to
    :data:`KEYPOINT_RADIUS_RANGE`). A keypoint of unknown position masks the hand's box
    (grown by the radius) out of its channel, so it is not taught as background.

    Args:
        keypoints_2d: ``[N, 21, 2]`` network-input pixels (:class:`Targets`).
        keypoint_weight: ``[N, 21]`` (> 0 = known).
        batch_index: ``[N]`` long, image of each hand.
        num_images: ``B``.
        map_size: ``(h, w)`` of the output map (cells).
        stride: network-input pixels per cell.

    Returns:
        ``(target, mask)``, both float32 ``[B, 21, h, w]`` on the labels' device; target in
        ``[0, 1]``, mask 1 where a cell counts. Raises ``ValueError`` on shape mismatch.
    """
    n = keypoints_2d.shape[0]
    if keypoints_2d.shape[1:] != (21, 2) or keypoint_weight.shape != (n, 21) or batch_index.shape != (n,):
        raise ValueError(f"keypoints_2d [N, 21, 2], keypoint_weight [N, 21] and batch_index [N] expected, got "
                         f"{tuple(keypoints_2d.shape)}, {tuple(keypoint_weight.shape)}, {tuple(batch_index.shape)}")
    h, w = map_size
    device = keypoints_2d.device
    target = torch.zeros(num_images * 21 * h * w, device=device)
    mask = torch.ones(num_images, 21, h, w, device=device)
    known = keypoint_weight > 0
    has_any = known.any(dim=1)
    if n == 0 or not bool(has_any.any()):
        return target.view(num_images, 21, h, w), mask
    kp = keypoints_2d.float() / stride  # cells
    far = torch.full_like(kp, 1e9)
    lo = torch.where(known[..., None], kp, far).amin(dim=1)
    hi = torch.where(known[..., None], kp, -far).amax(dim=1)
    size = (hi - lo).clamp(min=0).amax(dim=1)  # [N] cells
    radius = (KEYPOINT_RADIUS_FRACTION * size).clamp(*KEYPOINT_RADIUS_RANGE).floor()  # [N]
    hand, joint = known.nonzero(as_tuple=True)
    cells = kp[hand, joint].floor().long()  # (x, y)
    r = radius[hand]  # [M]
    # each Gaussian drawn in its (2 r_max + 1)^2 window only, cells beyond its own r are 0
    reach = int(KEYPOINT_RADIUS_RANGE[1])
    offs = torch.arange(-reach, reach + 1, device=device)
    dy, dx = torch.meshgrid(offs, offs, indexing="ij")
    dy, dx = dy.reshape(1, -1), dx.reshape(1, -1)  # [1, W]
    sigma = (2.0 * r[:, None] + 1.0) / 6.0
    g = torch.exp(-(dx * dx + dy * dy).float() / (2.0 * sigma**2))  # [M, W]
    rows, cols = cells[:, 1, None] + dy, cells[:, 0, None] + dx
    inside = (dy.abs() <= r[:, None]) & (dx.abs() <= r[:, None]) & (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    channel = (batch_index[hand] * 21 + joint)[:, None].expand_as(rows)
    flat = target.view(-1)
    flat.scatter_reduce_(0, (channel * (h * w) + rows * w + cols)[inside], g[inside], "amax", include_self=True)
    for i, j in (~known & has_any[:, None]).nonzero().tolist():
        x0, y0 = (lo[i] - radius[i]).floor().clamp(min=0).long().tolist()
        x1, y1 = (hi[i] + radius[i]).ceil().long().tolist()
        mask[batch_index[i], j, y0 : max(y0, y1 + 1), x0 : max(x0, x1 + 1)] = 0.0
    return target.view(num_images, 21, h, w), mask
