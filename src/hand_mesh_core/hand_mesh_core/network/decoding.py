"""Decoding the network's maps into hands, with a metric translation in the real camera.

The authors' decoding (Ren, Zhu, Zhang, CVIU 2023; ``../shared/notes/method.md``): sigmoid
on the centre heatmap, 5x5 max-pool as non-maximum suppression, top-K peaks, gather the
parameters at each peak, choose the left or right set by the handedness map, run the hand
model. Their defects, fixed here:

- they always return K hands: here a peak must also reach ``score_threshold``, so any
  number of hands comes out, 0 included, capped by ``max_hands``;
- their translation comes from a fixed virtual camera (f = 512 px, centred principal
  point), so it is not metric in a real camera. Here each location predicts the wrist's
  image position as an offset from the cell and a *depth term* relative to the real focal
  length, and the wrist is back-projected through the real intrinsics (see below).

Translation model (ours). For a peak at output cell ``(row, col)`` of a map of stride
``s`` (pixels of the network input per cell), with predicted ``offset = (du, dv)`` (cells)
and ``depth`` (dimensionless log term):

- wrist pixel in the network input: ``u = (col + 0.5 + du) s``, ``v = (row + 0.5 + dv) s``
  (corner-origin pixels: the cell's middle is at ``(col + 0.5) s``);
- wrist depth: ``z = depth_ref * f_net * exp(depth)`` metres, where ``f_net =
  sqrt(fx fy)`` of ``K_net`` (the real intrinsics carried into the network input by the
  letterbox, :mod:`hand_mesh_core.network.letterbox`) and ``depth_ref`` (metres per
  network pixel, from the config) centres the output. ``depth_ref * exp(depth)`` is the
  hand's metric-size-to-pixel ratio at its depth, which the network can see (a hand of
  known size covering fewer pixels is farther); by the pinhole model
  ``z = f * size_m / size_px``, so the same image gives the right depth for any real focal
  length;
- wrist point: ``x = (u - cx) z / fx``, ``y = (v - cy) z / fy`` with ``K_net``; the same
  ray as the original pixel through the real ``K``, so the 3D output is in the real
  camera's optical frame (REP-103, metres).

The mesh is then placed so that its wrist joint (MANO joint 0) lands on that point:
``transl = wrist - joints_0(betas, global_orient, hand_pose)``, with ``global_orient``
rotating about the wrist (MANO semantics). Meshes are computed with one hand-model call per
side for all hands of the batch, so the cost hardly grows with the number of hands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from hand_mesh_core.camera import project
from hand_mesh_core.network.heads import split_parameters

#: Limit of the depth term before ``exp`` (a factor of e^6 ~ 400 either way of depth_ref).
MAX_ABS_DEPTH_TERM = 6.0


@dataclasses.dataclass
class Peaks:
    """Hand-centre peaks of a batch, ``N`` in total, sorted by image then descending score.

    Attributes:
        batch_index: long ``[N]`` image of each peak.
        cells: long ``[N, 2]`` ``(row, col)`` in output-map cells.
        scores: float ``[N]`` sigmoid of the centre logit, in ``[0, 1]``.
    """

    batch_index: torch.Tensor
    cells: torch.Tensor
    scores: torch.Tensor


@dataclasses.dataclass
class DecodedHands:
    """All hands decoded from a batch (``N`` hands; tensors on the network's device).

    Attributes:
        batch_index: long ``[N]``; ``cells`` long ``[N, 2]`` (row, col); ``score`` ``[N]``.
        is_right: bool ``[N]``; ``handedness_score`` ``[N]`` confidence of that side in
            ``[0.5, 1]``.
        global_orient ``[N, 3]``, hand_pose ``[N, 45]`` (axis-angle, rad), betas ``[N, 10]``.
        transl ``[N, 3]`` metres: the hand model's translation (MANO semantics).
        wrist ``[N, 3]`` metres, optical frame: the back-projected wrist.
        vertices ``[N, V, 3]``, joints ``[N, 16, 3]``, keypoints_3d ``[N, 21, 3]`` metres.
        keypoints_2d_net ``[N, 21, 2]`` pixels of the network input (projection with K_net).
    """

    batch_index: torch.Tensor
    cells: torch.Tensor
    score: torch.Tensor
    is_right: torch.Tensor
    handedness_score: torch.Tensor
    global_orient: torch.Tensor
    hand_pose: torch.Tensor
    betas: torch.Tensor
    transl: torch.Tensor
    wrist: torch.Tensor
    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints_3d: torch.Tensor
    keypoints_2d_net: torch.Tensor

    def __len__(self) -> int:
        return int(self.batch_index.shape[0])


def find_peaks(centre_logits: torch.Tensor, score_threshold: float, max_hands: int, nms_kernel: int = 5) -> Peaks:
    """Local maxima of ``sigmoid(centre_logits)`` that reach ``score_threshold``.

    Args:
        centre_logits: ``[B, 1, h, w]`` raw centre scores.
        score_threshold: minimum peak score in ``[0, 1]`` (kept when ``score >= threshold``).
        max_hands: at most this many peaks per image (the highest), ``>= 1``.
        nms_kernel: odd max-pool window: a cell survives only if it is the maximum of its
            ``k x k`` neighbourhood, which suppresses near-duplicate peaks of one hand.

    Returns:
        :class:`Peaks` (0 to ``B * max_hands`` of them). Raises ``ValueError`` for a bad
        shape, threshold, ``max_hands`` or kernel.
    """
    if centre_logits.ndim != 4 or centre_logits.shape[1] != 1:
        raise ValueError(f"centre logits must be [B, 1, h, w], got {tuple(centre_logits.shape)}")
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if int(max_hands) != max_hands or max_hands < 1:
        raise ValueError(f"max_hands must be an integer >= 1, got {max_hands}")
    if nms_kernel < 1 or nms_kernel % 2 != 1:
        raise ValueError(f"nms_kernel must be a positive odd integer, got {nms_kernel}")
    B, _, h, w = centre_logits.shape
    heat = torch.sigmoid(centre_logits.float())
    pooled = F.max_pool2d(heat, nms_kernel, stride=1, padding=nms_kernel // 2)
    is_peak = (heat == pooled) & (heat >= score_threshold)
    masked = torch.where(is_peak, heat, torch.full_like(heat, -1.0)).view(B, h * w)
    k = min(int(max_hands), h * w)
    scores, flat = masked.topk(k, dim=1)  # sorted, descending
    keep = scores >= 0.0
    batch_index = torch.arange(B, device=heat.device)[:, None].expand(B, k)[keep]
    flat = flat[keep]
    cells = torch.stack([flat // w, flat % w], dim=1)
    return Peaks(batch_index=batch_index, cells=cells, scores=scores[keep])


def handedness_at(
    handedness_logits: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Side of each hand from the 2-channel handedness map at its peak.

    ``handedness_logits`` ``[B, 2, h, w]`` (channel 0 left, 1 right). With ``p_l, p_r`` the
    sigmoids at the cell, ``P(right) = p_r / (p_l + p_r)``. Returns ``is_right`` bool
    ``[N]`` (``P(right) >= 0.5``) and ``handedness_score`` ``[N]`` = ``max(P, 1 - P)``.
    """
    if handedness_logits.ndim != 4 or handedness_logits.shape[1] != 2:
        raise ValueError(f"handedness logits must be [B, 2, h, w], got {tuple(handedness_logits.shape)}")
    p = torch.sigmoid(handedness_logits[batch_index, :, cells[:, 0], cells[:, 1]].float())  # [N, 2]
    p_right = p[:, 1] / (p.sum(dim=1) + 1e-12)
    is_right = p_right >= 0.5
    return is_right, torch.where(is_right, p_right, 1.0 - p_right)


def wrist_from_prediction(
    cells: torch.Tensor,
    offset: torch.Tensor,
    depth: torch.Tensor,
    K_net: torch.Tensor,
    stride: int,
    depth_ref: float,
) -> torch.Tensor:
    """Back-project each hand's wrist through the real intrinsics (see the module docstring).

    Args:
        cells: long ``[N, 2]`` (row, col) output-map cells of the peaks.
        offset: ``[N, 2]`` wrist offset ``(du, dv)`` from the cell's middle, in cells.
        depth: ``[N]`` log depth term (clamped to ``+-MAX_ABS_DEPTH_TERM``).
        K_net: ``[N, 3, 3]`` intrinsics of the network input (letterboxed real K), pixels.
        stride: network-input pixels per output cell.
        depth_ref: metres per network-input pixel at ``depth = 0``.

    Returns:
        ``[N, 3]`` wrist positions, metres, optical frame of the real camera.
    """
    if cells.shape[1:] != (2,) or offset.shape != cells.shape or depth.shape != cells.shape[:1]:
        raise ValueError(f"cells/offset must be [N, 2] and depth [N], got {tuple(cells.shape)}, "
                         f"{tuple(offset.shape)}, {tuple(depth.shape)}")
    if K_net.shape != (cells.shape[0], 3, 3):
        raise ValueError(f"K_net must be [N, 3, 3], got {tuple(K_net.shape)}")
    if stride <= 0 or depth_ref <= 0:
        raise ValueError(f"stride and depth_ref must be positive, got {stride}, {depth_ref}")
    K_net = K_net.to(offset.dtype)
    fx, fy = K_net[:, 0, 0], K_net[:, 1, 1]
    cx, cy = K_net[:, 0, 2], K_net[:, 1, 2]
    u = (cells[:, 1].to(offset.dtype) + 0.5 + offset[:, 0]) * stride
    v = (cells[:, 0].to(offset.dtype) + 0.5 + offset[:, 1]) * stride
    z = depth_ref * torch.sqrt(fx * fy) * torch.exp(depth.clamp(-MAX_ABS_DEPTH_TERM, MAX_ABS_DEPTH_TERM))
    return torch.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], dim=1)


def wrist_to_prediction(
    cells: torch.Tensor, wrist: torch.Tensor, K_net: torch.Tensor, stride: int, depth_ref: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`wrist_from_prediction`: the ``offset [N, 2]`` and ``depth [N]`` that
    place the wrist at ``wrist`` ``[N, 3]`` (metres, ``z > 0``) from ``cells``. Used to build
    regression targets from 3D labels and to plant known hands in tests and benchmarks."""
    if wrist.shape != (cells.shape[0], 3) or bool((wrist[:, 2] <= 0).any()):
        raise ValueError("wrist must be [N, 3] with positive depth")
    K_net = K_net.to(wrist.dtype)
    uv = project(wrist[:, None, :], K_net)[:, 0]
    offset = uv / stride - cells.flip(1).to(wrist.dtype) - 0.5
    f = torch.sqrt(K_net[:, 0, 0] * K_net[:, 1, 1])
    depth = torch.log(wrist[:, 2] / (depth_ref * f))
    return offset, depth


@dataclasses.dataclass
class PosedHands:
    """Hand-model output placed in the camera: ``vertices [N, V, 3]`` (None when not
    computed), ``joints [N, 16, 3]``, ``keypoints [N, 21, 3]`` and ``transl [N, 3]`` (metres,
    optical frame)."""

    vertices: torch.Tensor | None
    joints: torch.Tensor
    keypoints: torch.Tensor
    transl: torch.Tensor


def pose_hands(
    hand_models: Mapping[str, torch.nn.Module],
    is_right: torch.Tensor,
    global_orient: torch.Tensor,
    hand_pose: torch.Tensor,
    betas: torch.Tensor,
    wrist: torch.Tensor,
    compute_vertices: bool = True,
) -> PosedHands:
    """Run the hand model for every hand (one batched call per side), wrist placed at ``wrist``.

    Args:
        hand_models: ``{"left": HandModel, "right": HandModel}`` with the same vertex count.
        is_right: bool ``[N]``.
        global_orient ``[N, 3]``, hand_pose ``[N, 45]`` (axis-angle, rad), betas ``[N, 10]``.
        wrist: ``[N, 3]`` metres, where MANO joint 0 must land.
        compute_vertices: False skips the mesh (``vertices`` is then None; joints and
            keypoints are the same), for training steps that need no mesh.

    Returns:
        :class:`PosedHands` in the input order (differentiable w.r.t. every input).
        Raises ``ValueError`` for mismatched shapes or a side missing from ``hand_models``.
    """
    n = is_right.shape[0]
    for name, t, d in (("global_orient", global_orient, 3), ("hand_pose", hand_pose, 45), ("betas", betas, 10),
                       ("wrist", wrist, 3)):
        if t.shape != (n, d):
            raise ValueError(f"{name} must be [{n}, {d}], got {tuple(t.shape)}")
    parts: list[tuple[torch.Tensor, object]] = []
    for side, select in (("left", ~is_right), ("right", is_right)):
        idx = select.nonzero()[:, 0]
        if idx.numel() == 0:
            continue
        if side not in hand_models:
            raise ValueError(f"no {side} hand model given")
        out = hand_models[side](betas=betas[idx], global_orient=global_orient[idx], hand_pose=hand_pose[idx],
                                compute_vertices=compute_vertices)
        parts.append((idx, out))
    if not parts:
        model = hand_models["right"] if "right" in hand_models else hand_models.get("left")
        V = int(model.num_vertices) if model is not None else 0
        z = wrist.new_zeros
        return PosedHands(vertices=z(0, V, 3) if compute_vertices else None, joints=z(0, 16, 3),
                          keypoints=z(0, 21, 3), transl=z(0, 3))
    order = torch.cat([idx for idx, _ in parts])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n, device=order.device)
    vertices = torch.cat([o.vertices for _, o in parts])[inverse] if compute_vertices else None
    joints = torch.cat([o.joints for _, o in parts])[inverse]
    keypoints = torch.cat([o.keypoints for _, o in parts])[inverse]
    transl = wrist - joints[:, 0]
    return PosedHands(
        vertices=vertices + transl[:, None] if compute_vertices else None,
        joints=joints + transl[:, None],
        keypoints=keypoints + transl[:, None],
        transl=transl,
    )


def gather_from_map(param_map: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A parameter reader for :func:`decode` from a dense ``[B, 122, h, w]`` map (tests,
    benchmarks, exported dense models): returns ``read(batch_index, cells) -> [N, 122]``."""

    def read(batch_index: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        return param_map[batch_index, :, cells[:, 0], cells[:, 1]]

    return read


def decode(
    centre_logits: torch.Tensor,
    handedness_logits: torch.Tensor,
    read_parameters: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    K_net: torch.Tensor,
    hand_models: Mapping[str, torch.nn.Module],
    *,
    stride: int,
    depth_ref: float,
    score_threshold: float,
    max_hands: int,
    nms_kernel: int = 5,
) -> DecodedHands:
    """Every hand of a batch, from the network's maps.

    Args:
        centre_logits: ``[B, 1, h, w]``; handedness_logits: ``[B, 2, h, w]``.
        read_parameters: ``(batch_index [N], cells [N, 2]) -> [N, 122]`` both parameter sets
            at those cells (``SingleStageNet.parameters_at`` bound to its features, or
            :func:`gather_from_map`).
        K_net: ``[B, 3, 3]`` (or ``[3, 3]`` for all) intrinsics of the network input, pixels.
        hand_models: ``{"left": ..., "right": ...}`` :class:`~hand_mesh_core.hand_model.HandModel`.
        stride, depth_ref: the map's stride (pixels per cell) and the depth reference
            (metres per pixel), from the model config.
        score_threshold, max_hands, nms_kernel: see :func:`find_peaks`.

    Returns:
        :class:`DecodedHands` (float32). Raises ``ValueError`` on inconsistent shapes.
    """
    B = centre_logits.shape[0]
    if handedness_logits.shape[0] != B or handedness_logits.shape[-2:] != centre_logits.shape[-2:]:
        raise ValueError("centre and handedness maps must share batch and spatial size")
    K_net = torch.as_tensor(K_net, dtype=torch.float32, device=centre_logits.device)
    if K_net.shape == (3, 3):
        K_net = K_net.expand(B, 3, 3)
    if K_net.shape != (B, 3, 3):
        raise ValueError(f"K_net must be [3, 3] or [{B}, 3, 3], got {tuple(K_net.shape)}")
    peaks = find_peaks(centre_logits, score_threshold, max_hands, nms_kernel)
    b, cells = peaks.batch_index, peaks.cells
    is_right, side_score = handedness_at(handedness_logits, b, cells)
    params = split_parameters(read_parameters(b, cells).float(), is_right)
    K_hand = K_net[b]
    wrist = wrist_from_prediction(cells, params["offset"], params["depth"], K_hand, stride, depth_ref)
    posed = pose_hands(hand_models, is_right, params["global_orient"], params["hand_pose"], params["betas"], wrist)
    return DecodedHands(
        batch_index=b,
        cells=cells,
        score=peaks.scores,
        is_right=is_right,
        handedness_score=side_score,
        global_orient=params["global_orient"],
        hand_pose=params["hand_pose"],
        betas=params["betas"],
        transl=posed.transl,
        wrist=wrist,
        vertices=posed.vertices,
        joints=posed.joints,
        keypoints_3d=posed.keypoints,
        keypoints_2d_net=project(posed.keypoints, K_hand),
    )
