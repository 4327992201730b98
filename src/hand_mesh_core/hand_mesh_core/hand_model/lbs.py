"""Linear blend skinning (LBS) for the 16-joint MANO kinematic tree, batched and vectorised.

The formulation is MANO's (Romero et al., "Embodied Hands", SIGGRAPH Asia 2017, eq. 1-3),
spelled out as in ``smplx.lbs``:

1. shape: ``v_shaped = v_template + shapedirs . betas``; joints ``J = J_regressor v_shaped``
   (here precomputed as ``J = J_template + J_shapedirs . betas``, which is the same linear map)
   (:func:`rest_points`).
2. pose: per-joint rotations ``R_j = exp(pose_j)`` (Rodrigues, :func:`axis_angle_to_matrix`),
   optional pose-corrective blend shapes ``posedirs . vec(R_1..15 - I)`` (:func:`pose_feature`,
   added by :func:`rest_points`).
3. kinematic chain: ``G_j = G_parent(j) [R_j | J_j - J_parent(j)]``, root ``[R_0 | J_0]``
   (:func:`forward_kinematics`; steps 1-3 of the skeleton together: :func:`articulate`).
4. skinning: ``v = sum_j w_vj (G_j [v_rest; 1] - G_j [J_j; 0])`` (:func:`skin`); the 21
   keypoints are the 16 posed joints and 5 skinned fingertip vertices (:func:`keypoints`).

These pure functions are the steps :class:`~hand_mesh_core.hand_model.HandModel` runs (with
its buffers as arguments) and that :mod:`.jacobian` differentiates.

Everything is written with plain tensor ops, so autograd, ``float16`` on CUDA and
``float64`` for ``gradcheck`` work unchanged. The chain is composed level by level (4 levels,
see ``KINEMATIC_LEVELS``) instead of joint by joint, with homogeneous ``[3, 4] @ [4, 4]``
products. At the batch sizes of the fitting loop (tens of parameter sets) the cost is the
number of tensor operations, not arithmetic, so each step is written with as few as
possible (constants are built once per dtype and device).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hand_mesh_core.hand_model.keypoints import KINEMATIC_LEVELS, MANO_PARENTS, MANO_TO_KEYPOINTS

_SMALL_ANGLE_SQ = 1e-6  # rad^2; below it the Taylor series of the Rodrigues factors is used

#: MANO joints in kinematic-level order: the root, then the first, second and third joint
#: of the five fingers (``KINEMATIC_LEVELS`` flattened). In this order the parents of one
#: level are exactly the previous level's joints, finger by finger (checked in
#: :mod:`.keypoints`), so the whole chain is three batched matrix products.
LEVEL_ORDER: tuple[int, ...] = tuple(j for level in KINEMATIC_LEVELS for j in level)
#: Position of each MANO joint in :data:`LEVEL_ORDER` (its inverse permutation).
MANO_FROM_LEVEL: tuple[int, ...] = tuple(LEVEL_ORDER.index(j) for j in range(16))

# cross-product basis: skew(v).flatten() = v @ _SKEW_BASIS (rows: x, y, z)
_SKEW_BASIS = (
    (0, 0, 0, 0, 0, -1, 0, 1, 0),
    (0, 0, 1, 0, 0, 0, -1, 0, 0),
    (0, -1, 0, 1, 0, 0, 0, 0, 0),
)
_CONSTANTS: dict[tuple[torch.dtype, torch.device], dict[str, torch.Tensor]] = {}


def _constants(dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """Small constant tensors per dtype and device, built once (creating them per call costs
    more than the arithmetic at the batch sizes of the fitting loop)."""
    key = (dtype, device)
    found = _CONSTANTS.get(key)
    if found is None:
        with torch.inference_mode(False):  # cached for autograd use too, even if first built in inference mode
            found = _build_constants(dtype, device)
        _CONSTANTS[key] = found
    return found


def _build_constants(dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    relative = torch.eye(16, dtype=torch.float64)
    for j in range(1, 16):
        relative[j, MANO_PARENTS[j]] = -1.0
    return {
        "skew_basis": torch.tensor(_SKEW_BASIS, dtype=dtype, device=device),
        "eye9": torch.eye(3, dtype=dtype, device=device).reshape(9),
        # rel_level = relative_level @ joints: joint minus parent (root: itself), level order
        "relative_level": relative[list(LEVEL_ORDER)].to(dtype=dtype, device=device),
        "homogeneous_row": torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=dtype, device=device),
        "level_order": torch.tensor(LEVEL_ORDER, device=device),
        "mano_from_level": torch.tensor(MANO_FROM_LEVEL, device=device),
        "keypoint_index": torch.tensor(MANO_TO_KEYPOINTS, device=device),
    }


@dataclass
class Articulation:
    """The posed skeleton of a batch (steps 1-3, :func:`articulate`).

    Attributes:
        rotvecs: ``[B, 16, 3]`` axis-angle of each joint (root: global orientation; the
            full pose, mean pose added), radians, MANO joint order.
        rot: ``[B, 16, 3, 3]`` their rotation matrices.
        a_rot, a_trans: ``[B, 16, 3, 3]``, ``[B, 16, 3]`` skinning transforms
            (:func:`forward_kinematics`).
        joints: ``[B, 16, 3]`` posed joints (metres, before ``transl``).
        feature: ``[B, 135]`` pose-corrective feature (:func:`pose_feature`), or None
            without pose correctives.
    """

    rotvecs: torch.Tensor
    rot: torch.Tensor
    a_rot: torch.Tensor
    a_trans: torch.Tensor
    joints: torch.Tensor
    feature: torch.Tensor | None


def rest_points(template: torch.Tensor, shapedirs: torch.Tensor, betas: torch.Tensor,
                feature: torch.Tensor | None = None, posedirs: torch.Tensor | None = None) -> torch.Tensor:
    """Steps 1 and 2 for points: shaped rest positions ``[B, N, 3]`` (metres).

    ``template + shapedirs . betas``, plus MANO's pose correctives ``feature @ posedirs``
    when both are given.

    Args:
        template: ``[N, 3]`` rest points of the mean shape (vertices, fingertip vertices,
            or joints with ``J_template``).
        shapedirs: ``[N, 3, S]`` their shape blend shapes.
        betas: ``[B, S]`` shape coefficients.
        feature: ``[B, 135]`` pose feature (:func:`pose_feature`), or None.
        posedirs: ``[135, N * 3]`` pose-corrective blend shapes of these points, or None.
    """
    n = template.shape[0]
    rest = torch.addmm(template.reshape(-1), betas, shapedirs.reshape(n * 3, -1).T)
    if feature is not None and posedirs is not None:
        rest = rest + feature @ posedirs
    return rest.reshape(betas.shape[0], n, 3)


def articulate(global_orient: torch.Tensor, full_hand_pose: torch.Tensor, rest_joints: torch.Tensor,
               pose_correctives: bool = False) -> Articulation:
    """Steps 2-3 for the skeleton: rotations, kinematic chain, posed joints (no translation).

    Args:
        global_orient: ``[B, 3]`` axis-angle of the root (radians).
        full_hand_pose: ``[B, 45]`` axis-angle of the 15 other joints relative to their
            parents (radians; PCA decoded, mean pose added:
            :meth:`~hand_mesh_core.hand_model.HandModel.full_pose`).
        rest_joints: ``[B, 16, 3]`` shaped rest joints (metres, :func:`rest_points` of
            ``J_template``).
        pose_correctives: also compute the pose-corrective feature (:func:`pose_feature`).

    Returns:
        :class:`Articulation`.
    """
    b = rest_joints.shape[0]
    rotvecs = torch.cat([global_orient, full_hand_pose], dim=1).reshape(b, 16, 3)
    rot = axis_angle_to_matrix(rotvecs)
    a_rot, a_trans, joints = forward_kinematics(rot, rest_joints)
    feature = pose_feature(rot) if pose_correctives else None
    return Articulation(rotvecs, rot, a_rot, a_trans, joints, feature)


def keypoint_order(points: torch.Tensor) -> torch.Tensor:
    """Rows ``[B, 21, ...]`` in the order ``(16 MANO joints, 5 fingertips)`` reordered to the
    21 keypoints (MediaPipe order, :data:`~hand_mesh_core.hand_model.keypoints.MANO_TO_KEYPOINTS`)."""
    return points.index_select(1, _constants(points.dtype, points.device)["keypoint_index"])


def keypoints(joints: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
    """``[B, 21, 3]`` keypoints (MediaPipe order) from posed joints ``[B, 16, 3]`` and posed
    fingertip vertices ``[B, 5, 3]`` (thumb, index, middle, ring, pinky)."""
    return keypoint_order(torch.cat([joints, tips], dim=1))


def skew(v: torch.Tensor) -> torch.Tensor:
    """Cross-product matrices ``[..., 3, 3]`` of vectors ``v [..., 3]`` (``skew(a) b = a x b``)."""
    basis = _constants(v.dtype, v.device)["skew_basis"]
    return (v @ basis).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis-angle ``[..., 3]`` (radians) -> rotation matrices ``[..., 3, 3]``.

    ``R = I + a K + b K^2`` with ``K = skew(rotvec)``, ``a = sin(t)/t``,
    ``b = (1 - cos t)/t^2 = 2 sin^2(t/2)/t^2`` and ``t = |rotvec|``, evaluated as
    ``R = (1 - b t^2) I + a K + b r r^T`` (``K^2 = r r^T - t^2 I``), a few fused element-wise
    operations for all rotations at once. Near ``t = 0`` the factors' Taylor series are used,
    so the result is exact at zero and the gradient is finite everywhere (no ``t + eps``
    bias as in some implementations).

    Raises:
        ValueError: the last dimension is not 3.
    """
    if rotvec.shape[-1] != 3:
        raise ValueError(f"axis-angle vectors must have 3 components, got shape {tuple(rotvec.shape)}")
    const = _constants(rotvec.dtype, rotvec.device)
    t2 = (rotvec * rotvec).sum(-1, keepdim=True)  # [..., 1]
    small = t2 < _SMALL_ANGLE_SQ
    t = torch.where(small, 1.0, t2).sqrt()
    a = torch.where(small, 1.0 - t2 / 6.0, torch.sin(t) / t)
    half = torch.sin(0.5 * t) / t
    b = torch.where(small, 0.5 - t2 / 24.0, 2.0 * half * half)
    outer = (rotvec[..., :, None] * rotvec[..., None, :]).flatten(-2)  # [..., 9]
    rot = torch.addcmul((1.0 - b * t2) * const["eye9"], a, rotvec @ const["skew_basis"])
    return torch.addcmul(rot, b, outer).reshape(*rotvec.shape[:-1], 3, 3)


def rotation_right_jacobian(rotvec: torch.Tensor) -> torch.Tensor:
    """Right Jacobian of SO(3), ``[..., 3] -> [..., 3, 3]``: ``exp(r + d) = exp(r) exp(J_r(r) d)``
    to first order in ``d``.

    ``J_r = I - b K + c K^2`` with ``K = skew(r)``, ``t = |r|``, ``b = (1 - cos t)/t^2``,
    ``c = (t - sin t)/t^3`` (Chirikjian, "Stochastic Models, Information Theory, and Lie
    Groups" vol. 2, 2012, eq. 10.86; Sola et al., "A micro Lie theory for state estimation
    in robotics", 2018, eq. 143). Evaluated as ``(1 - c t^2) I - b K + c r r^T``; ``c``
    comes from its Taylor series where ``1 - sin(t)/t`` would lose precision (``t^2`` below
    1e-4 in float64, 0.1 in lower precision). The derivative of ``axis_angle_to_matrix(r)``
    along component ``m`` of ``r`` is ``R skew(J_r[:, m])``.

    Raises:
        ValueError: the last dimension is not 3.
    """
    if rotvec.shape[-1] != 3:
        raise ValueError(f"axis-angle vectors must have 3 components, got shape {tuple(rotvec.shape)}")
    const = _constants(rotvec.dtype, rotvec.device)
    t2 = (rotvec * rotvec).sum(-1, keepdim=True)  # [..., 1]
    series = t2 < (1e-4 if rotvec.dtype == torch.float64 else 0.1)
    t2_safe = torch.where(series, 1.0, t2)
    t = t2_safe.sqrt()
    half = torch.sin(0.5 * t) / t
    b = torch.where(series, 0.5 - t2 / 24.0 + t2 * t2 / 720.0, 2.0 * half * half)
    c = torch.where(series, 1.0 / 6.0 - t2 / 120.0 + t2 * t2 / 5040.0, (1.0 - torch.sin(t) / t) / t2_safe)
    outer = (rotvec[..., :, None] * rotvec[..., None, :]).flatten(-2)  # [..., 9]
    jac = torch.addcmul((1.0 - c * t2) * const["eye9"], -b, rotvec @ const["skew_basis"])
    return torch.addcmul(jac, c, outer).reshape(*rotvec.shape[:-1], 3, 3)


def matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`axis_angle_to_matrix` for angles in ``[0, pi)``: ``[..., 3, 3] -> [..., 3]``.

    Uses ``angle = atan2(|v|, (tr R - 1)/2)`` with ``v = vee(R - R^T)/2``. Not meant for
    gradients at angle pi (the axis is then ambiguous). Radians.
    """
    v = 0.5 * torch.stack([rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0],
                           rot[..., 1, 0] - rot[..., 0, 1]], dim=-1)
    s = v.norm(dim=-1, keepdim=True)
    c = 0.5 * (rot.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True) - 1.0)
    angle = torch.atan2(s, c)
    small = s < 1e-7
    scale = torch.where(small, torch.ones_like(s), angle / torch.where(small, torch.ones_like(s), s))
    return v * scale


def chain_transforms(rotations: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """World transforms ``[B, 16, 3, 4]`` ``[A_j | p_j]`` of the MANO chain, MANO joint order.

    ``A_j = A_parent R_j`` is the accumulated rotation and ``p_j = A_parent (J_j -
    J_parent) + p_parent`` the posed joint (root: ``A_0 = R_0``, ``p_0 = J_0``). Inputs as
    for :func:`forward_kinematics`. The local transforms ``[R_j | J_j - J_parent]`` are
    made homogeneous and composed level by level in :data:`LEVEL_ORDER` (one batched
    ``[3, 4] @ [4, 4]`` product per level, about 15 tensor operations in all).
    """
    const = _constants(joints.dtype, joints.device)
    b = joints.shape[0]
    rel = const["relative_level"] @ joints  # [B, 16, 3], level order; exact (entries 0, +-1)
    local = torch.cat([rotations.index_select(1, const["level_order"]), rel[..., None]], dim=-1)  # [B, 16, 3, 4]
    bottom = const["homogeneous_row"].expand(b, 15, 1, 4)
    below = torch.cat([local[:, 1:], bottom], dim=-2)  # [B, 15, 4, 4]
    root = local[:, :1]
    first = root @ below[:, 0:5]
    second = first @ below[:, 5:10]
    third = second @ below[:, 10:15]
    return torch.cat([root, first, second, third], dim=1).index_select(1, const["mano_from_level"])


def forward_kinematics(
    rotations: torch.Tensor, joints: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compose the MANO chain and return skinning transforms and posed joints.

    Args:
        rotations: ``[B, 16, 3, 3]`` rotation of each joint relative to its parent (root:
            global orientation), MANO joint order.
        joints: ``[B, 16, 3]`` rest joint positions (metres) of the shaped hand.

    Returns:
        ``(A_rot [B, 16, 3, 3], A_trans [B, 16, 3], posed_joints [B, 16, 3])``: the
        transform of each joint, mapping a rest-pose point ``x`` to ``A_rot x + A_trans``
        (relative to the rest pose, ready for skinning), and the posed joints
        (``A_rot J + A_trans``; the root stays at ``J_0``: rotation about the wrist).
        See :func:`chain_transforms`.
    """
    world = chain_transforms(rotations, joints)
    a_rot, posed = world[..., :3], world[..., 3]
    return a_rot, posed - (a_rot @ joints[..., None])[..., 0], posed


def skin(points: torch.Tensor, weights: torch.Tensor, a_rot: torch.Tensor,
         a_trans: torch.Tensor) -> torch.Tensor:
    """Blend the joint transforms per point: ``[B, N, 3]`` rest points -> posed points.

    Args:
        points: ``[B, N, 3]`` rest-pose points (shaped, with pose correctives), metres.
        weights: ``[N, 16]`` skinning weights (rows sum to 1).
        a_rot, a_trans: ``[B, 16, 3, 3]``, ``[B, 16, 3]`` from :func:`forward_kinematics`.

    Each joint's transform is stored as its 3 rotation columns and translation (``[4, 3]``),
    blended with one matrix product, and applied as ``t + sum_k x_k R[:, k]`` (three fused
    multiply-adds over contiguous memory, about 4x faster on CPU than per-point 3x3
    products).
    """
    b, n = points.shape[:2]
    cols = torch.cat([a_rot.transpose(-1, -2), a_trans[..., None, :]], dim=-2)  # [B, 16, 4, 3]
    blended = torch.matmul(weights, cols.reshape(b, 16, 12)).reshape(b, n, 4, 3)
    out = torch.addcmul(blended[..., 3, :], blended[..., 0, :], points[..., 0:1])
    out = torch.addcmul(out, blended[..., 1, :], points[..., 1:2])
    return torch.addcmul(out, blended[..., 2, :], points[..., 2:3])


def pose_feature(rotations: torch.Tensor) -> torch.Tensor:
    """MANO's pose-corrective feature ``vec(R_1..15 - I)``: ``[B, 16, 3, 3] -> [B, 135]``."""
    eye9 = _constants(rotations.dtype, rotations.device)["eye9"]
    return (rotations[:, 1:].reshape(rotations.shape[0], 15, 9) - eye9).reshape(rotations.shape[0], -1)
