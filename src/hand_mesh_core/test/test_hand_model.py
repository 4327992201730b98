"""HandModel (open backend): forward semantics, mirroring, named poses, gradients, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_mesh_core.hand_model import (
    KEYPOINT_NAMES,
    MANO_PARENTS,
    SKELETON_EDGES,
    HandModel,
    mirror_points,
    mirror_pose,
    named_pose,
)
from hand_mesh_core.hand_model.lbs import axis_angle_to_matrix, matrix_to_axis_angle


@pytest.fixture(scope="module")
def models() -> dict[str, HandModel]:
    return {side: m.double() for side, m in HandModel.pair().items()}


def _random_params(batch: int, seed: int = 0, scale: float = 0.4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "betas": torch.randn(batch, 10, generator=g, dtype=torch.float64),
        "global_orient": torch.randn(batch, 3, generator=g, dtype=torch.float64),
        "hand_pose": scale * torch.randn(batch, 45, generator=g, dtype=torch.float64),
        "transl": 0.1 * torch.randn(batch, 3, generator=g, dtype=torch.float64),
    }


def _signed_volume(vertices: torch.Tensor, faces: torch.Tensor) -> float:
    tri = vertices[faces]
    return float(torch.linalg.det(tri).sum() / 6.0)


def test_shapes_names_and_topology(models):
    m = models["right"]
    out = m(**_random_params(3))
    assert out.vertices.shape == (3, m.num_vertices, 3) and m.num_vertices == 1159
    assert out.joints.shape == (3, 16, 3) and out.keypoints.shape == (3, 21, 3)
    assert m.faces.shape == (2314, 3) and m.faces.dtype == torch.long
    assert m.uvs.shape == (1159, 2) and 0.0 <= float(m.uvs.min()) and float(m.uvs.max()) <= 1.0
    assert m.face_uvs.shape == (2314, 3, 2)
    seam_free = torch.isclose(m.face_uvs, m.uvs[m.faces]).all(-1).all(-1)
    assert 0.8 < seam_free.float().mean() < 1.0  # UVs per vertex except along the seams
    assert m.name == "open_hand_v1" and m.num_betas == 10 and m.shape_names[0] == "size"
    assert len(KEYPOINT_NAMES) == 21 and len(SKELETON_EDGES) == 20
    # every edge of the watertight mesh is shared by exactly two faces
    f = m.faces.numpy()
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


def test_zero_parameters_give_the_template_and_the_regressed_joints(models):
    for m in models.values():
        out = m()
        assert torch.allclose(out.vertices[0], m.v_template, atol=1e-12)
        assert torch.allclose(out.joints[0], m.j_regressor @ m.v_template, atol=1e-12)
        # shaped rest pose: joints are the regressor applied to the shaped mesh
        betas = torch.randn(2, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
        shaped = m(betas=betas)
        assert torch.allclose(shaped.joints, m.j_regressor @ shaped.vertices, atol=1e-12)
        assert torch.allclose(out.keypoints[0, [4, 8, 12, 16, 20]], m.v_template[m.tip_vertex_ids])


def test_global_orient_rotates_about_the_wrist_then_transl_is_added(models):
    m = models["right"]
    p = _random_params(2, seed=1)
    posed = m(betas=p["betas"], hand_pose=p["hand_pose"])
    moved = m(**p)
    rot = axis_angle_to_matrix(p["global_orient"])
    wrist = posed.joints[:, :1]
    expected = (rot[:, None] @ (posed.vertices - wrist)[..., None])[..., 0] + wrist + p["transl"][:, None]
    assert torch.allclose(moved.vertices, expected, atol=1e-10)
    assert torch.allclose(moved.joints[:, 0], posed.joints[:, 0] + p["transl"], atol=1e-12)


def test_left_hand_is_the_mirrored_right_hand(models):
    p = _random_params(4, seed=2)
    right = models["right"](**p)
    left = models["left"](betas=p["betas"], global_orient=mirror_pose(p["global_orient"]),
                          hand_pose=mirror_pose(p["hand_pose"]), transl=mirror_points(p["transl"]))
    for a, b in ((left.vertices, right.vertices), (left.joints, right.joints), (left.keypoints, right.keypoints)):
        assert (a - mirror_points(b)).abs().max().item() < 1e-6


def test_faces_point_outwards_on_both_sides(models):
    for m in models.values():
        assert _signed_volume(m.v_template, m.faces) > 1e-4  # m^3, about a hand's volume
        out = m(**_random_params(1, seed=3, scale=0.2))
        assert _signed_volume(out.vertices[0], m.faces) > 1e-4


def test_flat_hand_is_16_to_20_cm_wrist_to_middle_tip(models):
    for m in models.values():
        kp = m(hand_pose=named_pose("flat", m.side)).keypoints[0]
        length = (kp[12] - kp[0]).norm().item()
        assert 0.16 <= length <= 0.20


def test_fist_closes_the_fingers_onto_the_palm(models):
    for m in models.values():
        kp = m(hand_pose=named_pose("fist", m.side, m.joint_frames)).keypoints[0]
        joints = m(hand_pose=named_pose("fist", m.side, m.joint_frames)).joints[0]
        palm_centre = joints[[0, 1, 4, 7, 10]].mean(0)  # wrist and the four MCPs
        tips = kp[[8, 12, 16, 20]]
        assert ((tips - palm_centre).norm(dim=-1) < 0.03).all()
        # the thumb lies across the middle phalanges of index and middle finger, in front of
        # them: its tip cannot reach 3 cm of the palm centre (inside the hand) without
        # passing through the curled fingers, so it is held to 2 cm of the phalanges and
        # 4.5 cm of the palm centre
        phalanges = kp[[6, 7, 10, 11]].mean(0)
        assert (kp[4] - phalanges).norm().item() < 0.02
        assert (kp[4] - palm_centre).norm().item() < 0.045
        assert (kp[4] - kp[5:]).norm(dim=-1).min().item() > 0.01  # not inside a finger
        # flat: the same tips are far from the palm
        flat = m(hand_pose=named_pose("flat", m.side)).keypoints[0]
        assert ((flat[[8, 12, 16, 20]] - palm_centre).norm(dim=-1) > 0.07).all()


def test_pinch_touches_thumb_and_index_tips(models):
    for m in models.values():
        kp = m(hand_pose=named_pose("pinch", m.side)).keypoints[0]
        assert (kp[4] - kp[8]).norm().item() < 0.015


def test_positive_flexion_bends_each_finger_towards_the_palm(models):
    m = models["right"]
    rest = m()
    palm_normal = torch.linalg.cross(rest.joints[0, 1] - rest.joints[0, 0], rest.joints[0, 7] - rest.joints[0, 0])
    palm_normal = palm_normal / palm_normal.norm()  # right hand: points out of the palm side
    for j in range(1, 16):
        if j >= 13:
            continue  # the thumb flexes across the palm, checked by the fist test
        pose = torch.zeros(1, 45, dtype=torch.float64)
        pose[0, 3 * (j - 1): 3 * j] = 0.5 * m.joint_frames[j][:, 0]  # 0.5 rad of flexion
        bent = m(hand_pose=pose)
        child_tip = {1: 8, 2: 8, 3: 8, 4: 12, 5: 12, 6: 12, 7: 20, 8: 20, 9: 20, 10: 16, 11: 16, 12: 16}[j]
        move = bent.keypoints[0, child_tip] - rest.keypoints[0, child_tip]
        assert (move @ palm_normal).item() > 0.005, j


def test_compute_vertices_false_gives_identical_joints_and_keypoints(models):
    for m in models.values():
        p = _random_params(3, seed=4)
        full = m(**p)
        fast = m(**p, compute_vertices=False)
        assert fast.vertices is None
        assert torch.allclose(fast.joints, full.joints, atol=1e-12)
        assert torch.allclose(fast.keypoints, full.keypoints, atol=1e-12)


def test_gradients_with_respect_to_all_inputs():
    m = HandModel("right").double()
    p = {k: v.requires_grad_() for k, v in _random_params(2, seed=5, scale=0.3).items()}

    def f(betas, global_orient, hand_pose, transl):
        out = m(betas, global_orient, hand_pose, transl)
        return out.vertices[:, ::97], out.keypoints

    assert torch.autograd.gradcheck(f, tuple(p.values()), eps=1e-6, atol=1e-5, fast_mode=True)
    loss = sum(o.square().sum() for o in f(*p.values()))
    grads = torch.autograd.grad(loss, tuple(p.values()))
    for name, g in zip(p, grads):
        assert torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_gradients_are_finite_at_zero_pose():
    m = HandModel("left")
    pose = torch.zeros(1, 45, requires_grad=True)
    orient = torch.zeros(1, 3, requires_grad=True)
    out = m(global_orient=orient, hand_pose=pose)
    out.vertices.sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    assert torch.isfinite(orient.grad).all()


def test_float32_matches_float64_and_inputs_are_converted(models):
    m32 = HandModel("right")
    assert m32.v_template.dtype == torch.float32
    p = _random_params(2, seed=6)
    out32 = m32(**{k: v.float() for k, v in p.items()})
    out64 = models["right"](**p)
    assert (out32.vertices.double() - out64.vertices).abs().max() < 1e-5
    numpy_in = m32(hand_pose=p["hand_pose"].numpy())  # numpy float64 -> model dtype
    assert numpy_in.vertices.dtype == torch.float32
    half = HandModel("right").half()(**p)  # float16 buffers and maths (also on CPU)
    assert half.vertices.dtype == torch.float16
    assert (half.vertices.double() - out64.vertices).abs().max() < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_float16_on_cuda_is_close_to_float32():
    m = HandModel("right").cuda()
    p = {k: v.float().cuda() for k, v in _random_params(4, seed=7).items()}
    ref = m(**p)
    half = m.half()(**{k: v.half() for k, v in p.items()})
    assert half.vertices.dtype == torch.float16
    assert (half.vertices.float() - ref.vertices).abs().max().item() < 2e-3


def test_bad_inputs_raise_clear_errors(models):
    m = models["right"]
    with pytest.raises(ValueError, match="hand_pose must have shape"):
        m(hand_pose=torch.zeros(1, 48))
    with pytest.raises(ValueError, match="batch size"):
        m(betas=torch.zeros(2, 10), hand_pose=torch.zeros(3, 45))
    with pytest.raises(ValueError, match="side"):
        HandModel(side="middle")
    with pytest.raises(ValueError, match="backend"):
        HandModel(backend="smpl")
    with pytest.raises(ValueError, match="PCA"):
        HandModel(use_pca=True)


def test_mean_pose_and_parents():
    flat = HandModel("right")
    relaxed_mean = HandModel("right", flat_hand_mean=False)
    assert torch.equal(flat.mean_pose, torch.zeros(45))
    # the open model has no learned mean pose: both settings give the same hand
    assert torch.equal(relaxed_mean.mean_pose, torch.zeros(45))
    assert flat.parents == MANO_PARENTS


def test_rodrigues_roundtrip_and_identity():
    g = torch.Generator().manual_seed(9)
    r = torch.randn(100, 3, dtype=torch.float64, generator=g)
    r = r / r.norm(dim=-1, keepdim=True) * torch.rand(100, 1, dtype=torch.float64, generator=g) * 3.0
    rot = axis_angle_to_matrix(r)
    assert torch.allclose(rot @ rot.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3), atol=1e-12)
    assert torch.allclose(matrix_to_axis_angle(rot), r, atol=1e-9)
    assert torch.equal(axis_angle_to_matrix(torch.zeros(3)), torch.eye(3))
