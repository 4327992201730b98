"""Metrics on small examples whose values are worked out by hand in the comments."""

import math

import numpy as np
import pytest

from hand_mesh_core.evaluation.metrics import (
    auc,
    f_score,
    mpjpe,
    normalized_errors_2d,
    pa_mpjpe,
    pa_mpvpe,
    pck,
    pck_auc,
    procrustes_align,
    root_relative,
    umeyama_similarity,
)

RZ90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about z


def test_mpjpe_by_hand():
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    pred = gt.copy()
    pred[0] += [3.0, 4.0, 0.0]  # error 5 on the first point, 0 on the others
    assert mpjpe(pred, gt) == pytest.approx(5.0 / 3.0)
    # only points 0 and 2 count: (5 + 0) / 2
    assert mpjpe(pred, gt, valid=np.array([True, False, True])) == pytest.approx(2.5)
    # batched: one value per set
    out = mpjpe(np.stack([pred, gt]), np.stack([gt, gt]))
    np.testing.assert_allclose(out, [5.0 / 3.0, 0.0])


def test_root_relative_subtracts_the_wrist():
    pts = np.array([[1.0, 2, 3], [2, 2, 3], [1, 5, 3]])
    np.testing.assert_allclose(root_relative(pts), [[0, 0, 0], [1, 0, 0], [0, 3, 0]])


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(21, 3))
    # target = 2 * Rz(90) * source + (1, 2, 3)
    target = 2.0 * source @ RZ90.T + np.array([1.0, 2.0, 3.0])
    s, R, t = umeyama_similarity(source, target)
    assert s == pytest.approx(2.0)
    np.testing.assert_allclose(R, RZ90, atol=1e-12)
    np.testing.assert_allclose(t, [1.0, 2.0, 3.0], atol=1e-12)


def test_pa_mpjpe_is_zero_after_rotation_scale_translation_but_mpjpe_is_not():
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=0.05, size=(21, 3))
    pred = 0.7 * gt @ RZ90.T + np.array([0.1, -0.2, 0.5])  # a similarity of the truth
    assert mpjpe(pred, gt) > 0.1
    assert pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-12)


def test_pa_mpjpe_of_a_saddle_by_hand():
    # gt: square (+-1, +-1, 0); pred: the same square lifted into a saddle z = +-1.
    # Cross-covariance sum gt_i pred_i^T = diag(4, 4, 0) (the xz and yz sums cancel),
    # so R = I, and s = tr(D) / var(pred) = (2) / (2 + 1) = 2/3, t = 0.
    # Residual per point: sqrt(2 (s - 1)^2 + s^2 * 1) = sqrt(2/9 + 4/9) = sqrt(2/3).
    gt = np.array([[1.0, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0]])
    pred = np.array([[1.0, 1, 1], [-1, 1, -1], [-1, -1, 1], [1, -1, -1]])
    s, R, t = umeyama_similarity(pred, gt)
    assert s == pytest.approx(2.0 / 3.0)
    np.testing.assert_allclose(R, np.eye(3), atol=1e-12)
    assert pa_mpjpe(pred, gt) == pytest.approx(math.sqrt(2.0 / 3.0))


def test_procrustes_never_reflects():
    # A mirrored, non-planar set cannot be aligned by a proper rotation.
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]])
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    s, R, t = umeyama_similarity(mirrored, gt)
    assert np.linalg.det(R) == pytest.approx(1.0)
    assert pa_mpjpe(mirrored, gt) > 0.1


def test_pa_mpvpe_on_vertices_of_a_similar_mesh():
    rng = np.random.default_rng(2)
    verts = rng.normal(scale=0.05, size=(778, 3))
    moved = 1.3 * verts @ RZ90 + 0.2
    assert pa_mpvpe(moved, verts) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        pa_mpvpe(moved[:700], verts)  # another topology


def test_f_score_by_hand():
    gt = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    pred = np.array([[0.0, 0, 0.001], [1, 0, 0.004], [2, 0, 0.010], [10, 0, 0], [0, 0, 0.002]])
    # pred -> nearest gt: 0.001, 0.004, 0.010, 7, 0.002 ; gt -> nearest pred: 0.001, 0.004, 0.010, ~1.0
    f, p, r = f_score(pred, gt, 0.005)
    assert p == pytest.approx(3 / 5) and r == pytest.approx(2 / 4)
    assert f == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    f, p, r = f_score(pred, gt, 0.015)
    assert p == pytest.approx(4 / 5) and r == pytest.approx(3 / 4)
    assert f == pytest.approx(2 * 0.8 * 0.75 / 1.55)
    assert f_score(gt, gt + [0, 0, 1.0], 0.5) == (0.0, 0.0, 0.0)


def test_pck_and_normalised_2d_error_by_hand():
    # (3, 4) px off with a 10 px hand: 0.5 of its size
    assert normalized_errors_2d(np.array([[3.0, 4.0]]), np.zeros((1, 2)), 10.0)[0] == pytest.approx(0.5)
    errors = np.array([0.1, 0.2, 0.3, 0.05])
    assert pck(errors, 0.2) == pytest.approx(0.5)  # strictly below: 0.1 and 0.05
    assert pck(errors, 0.2, valid=np.array([False, True, True, True])) == pytest.approx(1 / 3)


def test_auc_by_hand():
    # trapezoids over [0, 1, 2]: 0.5 + 1.0 = 1.5, divided by the range 2
    assert auc(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0])) == pytest.approx(0.75)
    # errors 0.5 and 1.5 -> PCK at thresholds 0, 1, 2 = 0, 0.5, 1 -> (0.25 + 0.75) / 2
    assert pck_auc(np.array([0.5, 1.5]), 0.0, 2.0, steps=3) == pytest.approx(0.5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        mpjpe(np.zeros((21, 3)), np.zeros((20, 3)))
    with pytest.raises(ValueError):
        mpjpe(np.full((21, 3), np.nan), np.zeros((21, 3)))
    with pytest.raises(ValueError):
        mpjpe(np.zeros((21, 3)), np.zeros((21, 3)), valid=np.zeros(21, bool))
    with pytest.raises(ValueError):
        umeyama_similarity(np.zeros((5, 3)), np.ones((5, 3)))  # coincident source points
    with pytest.raises(ValueError):
        f_score(np.zeros((3, 3)), np.zeros((3, 3)), 0.0)
    with pytest.raises(ValueError):
        normalized_errors_2d(np.zeros((1, 2)), np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError):
        auc(np.array([0.0, 0.0]), np.array([1.0, 1.0]))
