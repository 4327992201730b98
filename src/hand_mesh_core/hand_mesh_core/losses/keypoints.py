"""Keypoint losses: 2D reprojection, 2D bone direction, 3D joint and vertex L1.

Sources: Ren, Zhu, Zhang (CVIU 2023) and their public code — 2D keypoint reprojection as
an MSE over the 21 keypoints (weight x0.1 there), a 2D bone-direction loss comparing unit
bone vectors (x100), and L1 losses on 3D joints and vertices where 3D labels exist. The
visibility weighting of the 2D terms is ours (the authors' code weights all joints alike):
an occluded or unlabelled keypoint carries no 2D information.

Keypoints are in the 21-keypoint MediaPipe / OpenPose order; 2D values in pixels (the
objective uses network-input pixels), 3D values in metres in the camera optical frame.
Weights are per keypoint (or per hand), non-negative; every loss is a weighted mean, so a
batch without any labelled point gives exactly 0 (with a zero gradient).
"""

from __future__ import annotations

import torch

from hand_mesh_core.hand_model import SKELETON_EDGES


def _check_points(pred: torch.Tensor, target: torch.Tensor, dim: int, name: str) -> None:
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[-1] != dim:
        raise ValueError(f"{name}: pred {tuple(pred.shape)} and target {tuple(target.shape)} must both be [N, K, {dim}]")


def _point_weights(weight: torch.Tensor, shape: torch.Size, name: str) -> torch.Tensor:
    """``[N]`` or ``[N, K]`` weights as ``[N, K]`` float, checked non-negative."""
    n, k = shape[0], shape[1]
    weight = weight.to(torch.float32)
    if weight.shape == (n,):
        weight = weight[:, None].expand(n, k)
    if weight.shape != (n, k):
        raise ValueError(f"{name}: weight must be [N] or [N, K] = [{n}, {k}], got {tuple(weight.shape)}")
    if weight.numel() and float(weight.min()) < 0:
        raise ValueError(f"{name}: weights must be non-negative")
    return weight


def keypoint_reprojection_loss(pred_2d: torch.Tensor, target_2d: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Visibility-weighted MSE between predicted (projected) and labelled 2D keypoints.

    Args:
        pred_2d: ``[N, K, 2]`` pixels, the model keypoints projected through the camera.
        target_2d: ``[N, K, 2]`` pixels, labels.
        weight: ``[N, K]`` (or ``[N]``) non-negative, typically the 0/1 visibility.

    Returns:
        Scalar, pixels^2: ``sum_nk w_nk |pred - target|^2 / (2 sum_nk w_nk)`` (the mean over
        weighted coordinates, i.e. the MSE of the authors' code restricted to visible points).
        0 when no point has weight. Raises ``ValueError`` on shape mismatch or negative weights.
    """
    _check_points(pred_2d, target_2d, 2, "keypoint_reprojection_loss")
    w = _point_weights(weight, pred_2d.shape, "keypoint_reprojection_loss")
    sq = (pred_2d.float() - target_2d.float()).pow(2).sum(-1)
    return (w * sq).sum() / (2.0 * w.sum()).clamp(min=1e-8)


def bone_direction_loss(
    pred_2d: torch.Tensor,
    target_2d: torch.Tensor,
    weight: torch.Tensor,
    edges: tuple[tuple[int, int], ...] = SKELETON_EDGES,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Squared distance between predicted and labelled unit 2D bone directions.

    Args:
        pred_2d, target_2d: ``[N, K, 2]`` pixels.
        weight: ``[N, K]`` (or ``[N]``) non-negative keypoint weights; a bone's weight is the
            product of its two end points' weights, and bones whose labelled length is below
            ``eps`` pixels get 0 (no direction).
        edges: ``(parent, child)`` keypoint index pairs, default the 20 bones of the hand.
        eps: floor of the bone lengths in the normalisation (keeps gradients finite).

    Returns:
        Scalar in ``[0, 4]``: weighted mean over bones of ``|d_pred - d_target|^2`` with
        ``d = (child - parent) / |child - parent|``. It ignores bone lengths and the hand's
        scale and position, so it constrains the articulation only (Ren et al. 2023).
        Raises ``ValueError`` on shape mismatch, negative weights or bad edge indices.
    """
    _check_points(pred_2d, target_2d, 2, "bone_direction_loss")
    w = _point_weights(weight, pred_2d.shape, "bone_direction_loss")
    idx = torch.as_tensor(edges, dtype=torch.long, device=pred_2d.device)
    if idx.ndim != 2 or idx.shape[1] != 2 or int(idx.min()) < 0 or int(idx.max()) >= pred_2d.shape[1]:
        raise ValueError(f"edges must be (parent, child) pairs of indices below {pred_2d.shape[1]}")
    parent, child = idx[:, 0], idx[:, 1]
    bone_pred = pred_2d[:, child].float() - pred_2d[:, parent].float()
    bone_true = target_2d[:, child].float() - target_2d[:, parent].float()
    len_true = bone_true.norm(dim=-1)
    d_pred = bone_pred / bone_pred.norm(dim=-1, keepdim=True).clamp(min=eps)
    d_true = bone_true / len_true[..., None].clamp(min=eps)
    w_bone = w[:, parent] * w[:, child] * (len_true > eps).float()
    sq = (d_pred - d_true).pow(2).sum(-1)
    return (w_bone * sq).sum() / w_bone.sum().clamp(min=1e-8)


def _weighted_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    l1 = (pred.float() - target.float()).abs().sum(-1)
    return (weight * l1).sum() / (3.0 * weight.sum()).clamp(min=1e-8)


def joint_3d_loss(
    pred_3d: torch.Tensor, target_3d: torch.Tensor, weight: torch.Tensor, root_index: int | None = 0
) -> torch.Tensor:
    """L1 between predicted and labelled 3D keypoints (metres), optionally root-relative.

    Args:
        pred_3d, target_3d: ``[N, K, 3]`` metres, optical frame.
        weight: ``[N]`` (hand has 3D labels) or ``[N, K]`` non-negative.
        root_index: keypoint subtracted from both before comparing (0 = wrist: the
            articulation and shape only); None compares absolute positions (metric
            translation, meaningful when the label's camera is the one used for decoding).

    Returns:
        Scalar, metres: weighted mean absolute coordinate error. 0 when nothing is weighted.
        Raises ``ValueError`` on shape mismatch, negative weights or a bad ``root_index``.
    """
    _check_points(pred_3d, target_3d, 3, "joint_3d_loss")
    w = _point_weights(weight, pred_3d.shape, "joint_3d_loss")
    if root_index is not None:
        if not 0 <= root_index < pred_3d.shape[1]:
            raise ValueError(f"root_index {root_index} outside [0, {pred_3d.shape[1]})")
        pred_3d = pred_3d - pred_3d[:, root_index : root_index + 1]
        target_3d = target_3d - target_3d[:, root_index : root_index + 1]
    return _weighted_l1(pred_3d, target_3d, w)


def vertex_3d_loss(
    pred_vertices: torch.Tensor,
    target_vertices: torch.Tensor,
    weight: torch.Tensor,
    pred_root: torch.Tensor | None = None,
    target_root: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1 between predicted and labelled mesh vertices (metres), optionally root-relative.

    Args:
        pred_vertices, target_vertices: ``[N, V, 3]`` metres, optical frame, same topology.
        weight: ``[N]`` (hand has a vertex label) or ``[N, V]`` non-negative.
        pred_root, target_root: ``[N, 3]`` points (e.g. the wrist joints) subtracted from the
            respective vertices; both or neither.

    Returns:
        Scalar, metres: weighted mean absolute coordinate error. Raises ``ValueError`` on
        shape mismatch, negative weights, or only one root given.
    """
    _check_points(pred_vertices, target_vertices, 3, "vertex_3d_loss")
    w = _point_weights(weight, pred_vertices.shape, "vertex_3d_loss")
    if (pred_root is None) != (target_root is None):
        raise ValueError("vertex_3d_loss: give both pred_root and target_root, or neither")
    if pred_root is not None:
        if pred_root.shape != (pred_vertices.shape[0], 3) or target_root.shape != pred_root.shape:
            raise ValueError(f"roots must be [N, 3], got {tuple(pred_root.shape)}, {tuple(target_root.shape)}")
        pred_vertices = pred_vertices - pred_root[:, None]
        target_vertices = target_vertices - target_root[:, None]
    return _weighted_l1(pred_vertices, target_vertices, w)
