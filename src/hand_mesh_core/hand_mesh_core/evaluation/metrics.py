"""Accuracy metrics of 3D hand reconstruction and 2D keypoints (NumPy).

All functions take NumPy arrays and return floats or arrays in the units of their inputs
(metres in, metres out: multiply by 1000 for the millimetres papers report). Batched
inputs ``[..., N, D]`` give one value per leading index. Definitions:

* MPJPE: mean per-joint position error, the mean Euclidean distance between
  corresponding points (Ionescu et al., Human3.6M, TPAMI 2014). "Root-relative" MPJPE
  first subtracts each set's root joint (the wrist, keypoint 0).
* PA-MPJPE / PA-MPVPE: the same after aligning the prediction to the ground truth with
  the similarity transform (rotation, uniform scale, translation) that minimises the
  squared error, in closed form (Umeyama, "Least-squares estimation of transformation
  parameters between two point patterns", TPAMI 1991). PA-MPVPE is PA-MPJPE over mesh
  vertices; both meshes must share a topology (same vertex count and order).
* F-score at a distance ``d`` (Knapitsch et al., "Tanks and Temples", SIGGRAPH 2017;
  used by FreiHAND, Zimmermann et al. ICCV 2019, at 5 mm and 15 mm on aligned meshes):
  precision = fraction of predicted points within ``d`` of the nearest ground-truth point,
  recall = fraction of ground-truth points within ``d`` of the nearest predicted point,
  F = 2PR / (P + R) (0 when P + R = 0).
* PCK: fraction of keypoints whose error is below a threshold (``error < t``, strictly,
  as mmpose's ``keypoint_pck_accuracy``). For 2D hand benchmarks the error is divided by
  a per-hand normaliser, here the larger side of the ground-truth box
  (:meth:`hand_mesh_core.data.sample.HandLabel.box_size`), so "PCK@0.2" counts keypoints
  within 20 % of the hand's size.
* AUC of a PCK curve: the area under PCK(t) for t in ``[low, high]`` by the trapezoidal
  rule, divided by ``high - low`` so a perfect curve scores 1 (Zimmermann & Brox,
  ICCV 2017, 3D PCK over 20-50 mm on RHD/STB; FreiHAND over 0-50 mm).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def _pair(pred: np.ndarray, gt: np.ndarray, dims: tuple[int, ...] = (2, 3)) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} must have the same shape")
    if pred.ndim < 2 or pred.shape[-1] not in dims:
        raise ValueError(f"points must be [..., N, D] with D in {dims}, got {pred.shape}")
    if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
        raise ValueError("points contain NaN or infinite values")
    return pred, gt


def _weights(valid: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """float ``[..., N]`` weights from a bool mask (None = all); ValueError if a set is empty."""
    if valid is None:
        return np.ones(shape[:-1])
    w = np.broadcast_to(np.asarray(valid, dtype=bool), shape[:-1]).astype(np.float64)
    if (w.sum(axis=-1) == 0).any():
        raise ValueError("every point set needs at least one valid point")
    return w


def point_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distances ``[..., N]`` between corresponding points ``[..., N, D]`` (D = 2 or 3)."""
    pred, gt = _pair(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)


def mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | float:
    """Mean per-joint position error of ``[..., N, 3]`` point sets (input units).

    ``valid`` (bool ``[..., N]``) restricts the mean to the points it marks. Returns a
    float for one set, ``[...]`` for a batch. Raises ``ValueError`` for mismatched
    shapes, non-finite values or a set without valid points.
    """
    err = point_errors(pred, gt)
    w = _weights(valid, err.shape + (1,))
    out = (err * w).sum(axis=-1) / w.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def root_relative(points: np.ndarray, root: int = 0) -> np.ndarray:
    """``points [..., N, 3]`` minus their point ``root`` (default keypoint 0, the wrist)."""
    points = np.asarray(points, dtype=np.float64)
    return points - points[..., root : root + 1, :]


def umeyama_similarity(source: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity transform ``target ~ s R source + t`` minimising the squared error.

    Closed form of Umeyama (TPAMI 1991, eq. 40-42) with the reflection guard: centre both
    sets, ``S = U D V^T`` of the target-source covariance, ``R = U diag(1, .., det(U V^T)) V^T``,
    ``s = tr(D diag(...)) / var(source)``, ``t = mu_target - s R mu_source``.

    Args:
        source, target: ``[N, D]`` corresponding points (D = 2 or 3), N >= 2.
        valid: bool ``[N]`` points to use (None = all; at least 2).

    Returns:
        ``(s, R [D, D], t [D])``. Raises ``ValueError`` for mismatched shapes, too few
        points, or a source whose points all coincide (scale undefined).
    """
    source, target = _pair(source, target)
    if source.ndim != 2:
        raise ValueError(f"umeyama_similarity takes one [N, D] set, got {source.shape}")
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        source, target = source[valid], target[valid]
    n, d = source.shape
    if n < 2:
        raise ValueError(f"a similarity needs at least 2 points, got {n}")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    xs, xt = source - mu_s, target - mu_t
    var_s = (xs**2).sum() / n
    if var_s <= 1e-24:
        raise ValueError("source points coincide: the scale of the alignment is undefined")
    cov = xt.T @ xs / n
    U, D, Vt = np.linalg.svd(cov)
    S = np.ones(d)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[-1] = -1.0
    R = U @ np.diag(S) @ Vt
    s = float((D * S).sum() / var_s)
    t = mu_t - s * R @ mu_s
    return s, R, t


def procrustes_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """``pred [..., N, D]`` mapped onto ``gt`` by the best similarity (see :func:`umeyama_similarity`),
    one transform per set, estimated on the ``valid`` points and applied to all of them."""
    pred, gt = _pair(pred, gt)
    flat_p = pred.reshape(-1, *pred.shape[-2:])
    flat_g = gt.reshape(-1, *gt.shape[-2:])
    flat_v = None if valid is None else np.broadcast_to(np.asarray(valid, bool), pred.shape[:-1]).reshape(-1, pred.shape[-2])
    out = np.empty_like(flat_p)
    for i in range(len(flat_p)):
        s, R, t = umeyama_similarity(flat_p[i], flat_g[i], None if flat_v is None else flat_v[i])
        out[i] = s * flat_p[i] @ R.T + t
    return out.reshape(pred.shape)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray | float:
    """MPJPE after Procrustes alignment with scale (input units); same arguments as :func:`mpjpe`."""
    return mpjpe(procrustes_align(pred, gt, valid), gt, valid)


def pa_mpvpe(pred_vertices: np.ndarray, gt_vertices: np.ndarray) -> np.ndarray | float:
    """Mean per-vertex position error after Procrustes alignment with scale.

    ``[..., V, 3]`` meshes of the same topology (same V, same vertex order; e.g. two MANO
    meshes). Raises ``ValueError`` when the shapes differ.
    """
    return pa_mpjpe(pred_vertices, gt_vertices)


def f_score(pred_points: np.ndarray, gt_points: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """F-score of two point clouds at a distance ``threshold`` (Knapitsch et al. 2017).

    Args:
        pred_points: ``[P, 3]`` predicted points (e.g. aligned mesh vertices).
        gt_points: ``[G, 3]`` ground-truth points; P and G may differ.
        threshold: distance, in the points' units (0.005 and 0.015 m for F@5mm, F@15mm).

    Returns:
        ``(f, precision, recall)`` in [0, 1]. Raises ``ValueError`` for an empty cloud, a
        non-positive threshold or non-finite values.
    """
    pred = np.asarray(pred_points, dtype=np.float64)
    gt = np.asarray(gt_points, dtype=np.float64)
    for name, pts in (("pred_points", pred), ("gt_points", gt)):
        if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
            raise ValueError(f"{name} must be a non-empty [N, 3] array, got {pts.shape}")
        if not np.isfinite(pts).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    d_pred_to_gt, _ = cKDTree(gt).query(pred)
    d_gt_to_pred, _ = cKDTree(pred).query(gt)
    precision = float((d_pred_to_gt < threshold).mean())
    recall = float((d_gt_to_pred < threshold).mean())
    f = 0.0 if precision + recall == 0 else 2.0 * precision * recall / (precision + recall)
    return f, precision, recall


def normalized_errors_2d(pred: np.ndarray, gt: np.ndarray, normalizer: np.ndarray | float) -> np.ndarray:
    """2D keypoint errors ``[..., N]`` divided by a per-set normaliser (pixels / pixels).

    ``pred``, ``gt``: ``[..., N, 2]`` pixels; ``normalizer``: scalar or ``[...]`` positive
    sizes (e.g. the ground-truth box's larger side). Raises ``ValueError`` for a
    non-positive normaliser.
    """
    pred, gt = _pair(pred, gt, dims=(2,))
    norm = np.asarray(normalizer, dtype=np.float64)
    if (norm <= 0).any() or not np.isfinite(norm).all():
        raise ValueError(f"normalizer must be positive and finite, got {normalizer}")
    return np.linalg.norm(pred - gt, axis=-1) / norm[..., None]


def pck(errors: np.ndarray, threshold: float, valid: np.ndarray | None = None) -> float:
    """Fraction of ``valid`` errors strictly below ``threshold`` (any shape; None = all).

    Raises ``ValueError`` when no error is valid.
    """
    errors = np.asarray(errors, dtype=np.float64)
    mask = np.ones(errors.shape, bool) if valid is None else np.broadcast_to(np.asarray(valid, bool), errors.shape)
    if not mask.any():
        raise ValueError("pck needs at least one valid error")
    return float((errors[mask] < threshold).mean())


def pck_curve(errors: np.ndarray, thresholds: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """PCK at each of ``thresholds`` (``[T]``) -> ``[T]`` (see :func:`pck`)."""
    return np.array([pck(errors, float(t), valid) for t in np.asarray(thresholds, dtype=np.float64)])


def auc(thresholds: np.ndarray, values: np.ndarray) -> float:
    """Normalised area under a curve sampled at increasing ``thresholds``: trapezoidal
    integral divided by ``thresholds[-1] - thresholds[0]`` (1.0 for a curve that is 1
    everywhere). Raises ``ValueError`` for fewer than 2 samples or non-increasing thresholds."""
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape or len(t) < 2:
        raise ValueError(f"need matching 1-D thresholds and values with >= 2 samples, got {t.shape}, {v.shape}")
    if (np.diff(t) <= 0).any():
        raise ValueError("thresholds must be strictly increasing")
    return float(np.trapz(v, t) / (t[-1] - t[0]))


def pck_auc(errors: np.ndarray, low: float, high: float, steps: int = 20, valid: np.ndarray | None = None) -> float:
    """AUC of the PCK curve over ``steps`` evenly spaced thresholds from ``low`` to ``high``
    inclusive (e.g. 0.020-0.050 m for RHD 3D, 0-0.050 m for FreiHAND)."""
    if not high > low or steps < 2:
        raise ValueError(f"need high > low and steps >= 2, got low={low}, high={high}, steps={steps}")
    thresholds = np.linspace(low, high, steps)
    return auc(thresholds, pck_curve(errors, thresholds, valid))


__all__ = [
    "point_errors",
    "mpjpe",
    "root_relative",
    "umeyama_similarity",
    "procrustes_align",
    "pa_mpjpe",
    "pa_mpvpe",
    "f_score",
    "normalized_errors_2d",
    "pck",
    "pck_curve",
    "auc",
    "pck_auc",
]
