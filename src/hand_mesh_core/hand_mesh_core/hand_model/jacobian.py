"""Exact Jacobian of the hand model's 21 keypoints with respect to its parameters.

Solvers of the hand model (the two-stage fit, :mod:`hand_mesh_core.two_stage.fitting`)
need ``d keypoints / d (global_orient, hand_pose, betas, transl)`` many times per frame.
Finite differences cost one batch of 61 perturbed copies per hand; this closed form costs
about one more forward pass of the hand itself. It follows the forward pass of
:mod:`.lbs` step by step (MANO, Romero et al. 2017, eq. 1-3):

* **rotations.** Changing the axis-angle ``r_j`` of joint ``j`` by ``d`` turns its
  rotation into ``R_j exp(J_r(r_j) d)`` (:func:`.lbs.rotation_right_jacobian`), i.e. it
  rotates everything that moves with joint ``j`` about the posed joint ``p_j`` by the
  world-frame angle ``w = A_j J_r(r_j) d`` (``A_j``: accumulated rotation of joint ``j``).
  A point ``x`` carried by joint ``j`` moves by ``w x (x - p_j)``. The posed joints
  carried by ``j`` are its descendants; a fingertip is a skinned vertex
  ``sum_i w_i (A_i x + a_i)``, whose part from joint ``j`` and its descendants is carried.
  With MANO's pose correctives the fingertip's rest position also changes, through
  ``d R_j = R_j skew(J_r d)``.
* **shape.** With the rotations fixed, the posed skeleton is linear in the rest joints and
  the fingertips are linear in their rest positions; both rest positions are linear in
  ``betas`` (``j_shapedirs``, ``tip_shapedirs``).
* **translation.** Adds the identity.

Checked against autograd in ``test_hand_model_jacobian.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hand_mesh_core.hand_model import lbs
from hand_mesh_core.hand_model.keypoints import MANO_PARENTS
from hand_mesh_core.hand_model.lbs import Articulation

_TREE: dict[tuple[torch.dtype, torch.device], dict[str, torch.Tensor]] = {}


def _tree_constants(dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """Constants of the MANO tree per dtype and device (built once)."""
    key = (dtype, device)
    found = _TREE.get(key)
    if found is None:
        with torch.inference_mode(False):  # cached for autograd use too, even if first built in inference mode
            found = _build_tree_constants(dtype, device)
        _TREE[key] = found
    return found


def _build_tree_constants(dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    carried = torch.eye(16, dtype=torch.float64)  # [j, i] = 1 if joint i moves with joint j
    for i in range(16):
        j = MANO_PARENTS[i]
        while j >= 0:
            carried[j, i] = 1.0
            j = MANO_PARENTS[j]
    relative = torch.eye(16, dtype=torch.float64)  # rel = relative @ J: joint minus parent
    for i in range(1, 16):
        relative[i, MANO_PARENTS[i]] = -1.0
    return {
        "carried": carried.to(dtype=dtype, device=device),
        "strictly_carried": (carried - torch.eye(16, dtype=torch.float64)).to(dtype=dtype, device=device),
        "relative": relative.to(dtype=dtype, device=device),
        # parent of each joint in cat([I, A]) (the root's parent rotation is the identity)
        "parent_in_padded": torch.tensor([0] + [p + 1 for p in MANO_PARENTS[1:]], device=device),
        "eye3": torch.eye(3, dtype=dtype, device=device),
    }


@dataclass
class KeypointPass:
    """A keypoints-only forward pass that keeps what :func:`keypoint_jacobian` needs.

    Attributes:
        keypoints: ``[B, 21, 3]`` metres, MediaPipe order (``transl`` added), identical to
            ``HandModel.forward(..., compute_vertices=False).keypoints``.
        articulation: the posed skeleton (:class:`~hand_mesh_core.hand_model.lbs.Articulation`).
        tip_rest: ``[B, 5, 3]`` rest positions of the fingertip vertices.
    """

    keypoints: torch.Tensor
    articulation: Articulation
    tip_rest: torch.Tensor


def keypoint_pass(model, betas=None, global_orient=None, hand_pose=None, transl=None) -> KeypointPass:
    """The keypoints of ``model`` (arguments as for ``HandModel.forward``), keeping the
    intermediate results for :func:`keypoint_jacobian` (a solver can evaluate its cost
    first and ask for the Jacobian only where it needs one).

    Raises:
        ValueError: an input has a wrong shape or the batch sizes differ.
    """
    betas, global_orient, hand_pose, transl = model.prepare_inputs(betas, global_orient, hand_pose, transl)
    # the steps of HandModel.forward(..., compute_vertices=False), see lbs
    rest_joints = lbs.rest_points(model.j_template, model.j_shapedirs, betas)
    art = lbs.articulate(global_orient, model.full_pose(hand_pose), rest_joints,
                         pose_correctives=model.posedirs is not None)
    tip_rest = lbs.rest_points(model.tip_template, model.tip_shapedirs, betas, art.feature, model.tip_posedirs)
    keypoints = lbs.keypoints(art.joints, lbs.skin(tip_rest, model.tip_weights, art.a_rot, art.a_trans))
    if transl is not None:
        keypoints = keypoints + transl[:, None]
    return KeypointPass(keypoints, art, tip_rest)


def keypoints_with_jacobian(model, betas=None, global_orient=None, hand_pose=None,
                            transl=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keypoints of ``model`` and their exact Jacobian with respect to the parameters.

    Args:
        model: a :class:`~hand_mesh_core.hand_model.HandModel` (any backend, PCA or not).
        betas, global_orient, hand_pose, transl: as for ``HandModel.forward`` (``[B, S]``,
            ``[B, 3]`` radians, ``[B, pose_dim]`` radians, ``[B, 3]`` metres; None = zeros).

    Returns:
        ``(keypoints [B, 21, 3], jacobian [B, 21, 3, P])``: the keypoints (metres,
        MediaPipe order, identical to ``forward(..., compute_vertices=False).keypoints``)
        and ``d keypoints / d params`` (:func:`keypoint_jacobian`).

    Raises:
        ValueError: an input has a wrong shape or the batch sizes differ.
    """
    done = keypoint_pass(model, betas, global_orient, hand_pose, transl)
    return done.keypoints, keypoint_jacobian(model, done)


def keypoint_jacobian(model, done: KeypointPass) -> torch.Tensor:
    """``d keypoints / d params`` ``[B, 21, 3, P]`` at the parameters of a :func:`keypoint_pass`.

    ``P = 3 + pose_dim + S + 3`` columns in the order ``[global_orient, hand_pose, betas,
    transl]`` (metres per radian, metres per unit of beta, 1 for the translation); rows in
    MediaPipe keypoint order. Differentiable, any dtype and device. ``model`` must be the
    one that made ``done``.
    """
    art, tip_rest = done.articulation, done.tip_rest
    b = tip_rest.shape[0]
    tree = _tree_constants(art.rot.dtype, art.rot.device)
    weights = model.tip_weights  # [5, 16]
    a_rot, posed = art.a_rot, art.joints

    # --- rotations: world angle per unit of each axis-angle component, [B, 16, 3 (xyz), 3 (m)]
    right = lbs.rotation_right_jacobian(art.rotvecs)
    omega = a_rot @ right
    # what each output point has moving with joint j, relative to p_j: [B, 21, 16 (j), 3]
    joint_arms = tree["strictly_carried"].T[:, :, None] * (posed[:, :, None, :] - posed[:, None, :, :])
    by_joint = (a_rot[:, None] @ tip_rest[:, :, None, :, None])[..., 0] + art.a_trans[:, None]  # [B, 5, 16 (i), 3]
    tip_share = weights[:, None, :] * tree["carried"]  # [5, 16 (j), 16 (i)]: weight of i carried by j
    tip_arms = tip_share @ by_joint - (weights @ tree["carried"].T)[None, :, :, None] * posed[:, None]
    arms = torch.cat([joint_arms, tip_arms], dim=1)  # [B, 21, 16, 3]
    rot_cols = torch.linalg.cross(omega.transpose(-1, -2)[:, None], arms[:, :, :, None, :], dim=-1)
    rot_cols = rot_cols.permute(0, 1, 4, 2, 3).reshape(b, 21, 3, 48)  # columns: joint-major, then m
    blended = (weights @ a_rot.reshape(b, 16, 9)).reshape(b, 5, 3, 3)  # sum_i w_i A_i per tip
    if art.feature is not None:  # pose correctives move the tips' rest positions
        d_rot = art.rot[:, 1:, None] @ lbs.skew(right[:, 1:].transpose(-1, -2))  # [B, 15, 3 (m), 3, 3]
        d_rest = torch.einsum("bjmr,jrq->bqjm", d_rot.reshape(b, 15, 3, 9), model.tip_posedirs.reshape(15, 9, 15))
        corrective = blended @ d_rest.reshape(b, 5, 3, 45)  # [B, 5 tips, 3, 45 hand_pose columns]
        rot_cols = rot_cols + torch.nn.functional.pad(corrective, (3, 0, 0, 0, 16, 0))

    # --- shape: rest joints and tips are linear in betas, the posed ones linear in those
    s = model.num_betas
    d_joints_rest = model.j_shapedirs  # [16, 3, S]
    d_rel = (tree["relative"] @ d_joints_rest.reshape(16, 3 * s)).reshape(16, 3, s)
    parent_rot = torch.cat([tree["eye3"].expand(b, 1, 3, 3), a_rot], dim=1).index_select(1, tree["parent_in_padded"])
    d_posed = tree["carried"].T @ (parent_rot @ d_rel).reshape(b, 16, 3 * s)  # [B, 16, 3S]
    d_moved = (a_rot @ d_joints_rest).reshape(b, 16, 3 * s)
    d_tips = blended @ model.tip_shapedirs + (weights @ (d_posed - d_moved)).reshape(b, 5, 3, s)
    shape_cols = torch.cat([d_posed.reshape(b, 16, 3, s), d_tips], dim=1)  # [B, 21, 3, S]

    transl_cols = tree["eye3"].expand(b, 21, 3, 3)
    if model.pca_basis is not None:
        pose_cols = rot_cols[..., 3:] @ model.pca_basis.T
        rot_cols = torch.cat([rot_cols[..., :3], pose_cols], dim=-1)
    return lbs.keypoint_order(torch.cat([rot_cols, shape_cols, transl_cols], dim=-1))
