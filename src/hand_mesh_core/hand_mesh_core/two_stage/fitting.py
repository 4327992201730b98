"""Fitting the hand model to MediaPipe's landmarks (stage two): metric 3D from the real K.

For every hand of a frame (all in one batch) we solve the hand model's parameters
``x = [global_orient (3), hand_pose (45), betas (10), transl (3)]`` (61 numbers, MANO
semantics) by non-linear least squares, ``min_x 1/2 |r(x)|^2``, with the residuals

1. **reprojection**: ``(project(K, keypoints(x)) - landmarks_2d) * z0 / f / sigma_2d``
   (42 per hand). Pixels are turned into metres at the hand's initial depth ``z0`` so that
   the weight does not depend on how large the hand appears;
2. **metric shape**: ``((P - mean P) - R_ray (W - mean W)) / sigma_3d`` (63 per hand),
   where ``P`` are the model's keypoints and ``W`` MediaPipe's world landmarks (metric,
   hand-centred). Both are centred, so they agree up to translation. ``R_ray`` is the
   smallest rotation taking the optical axis onto the ray through the hand: MediaPipe
   predicts ``W`` from a crop as if seen along the optical axis, and ``R_ray`` restores the
   perspective of off-centre hands;
3. **priors** on the anatomical joint angles ``a`` (flexion, abduction, twist of each of
   the 15 joints, :func:`~hand_mesh_core.hand_model.joint_limits.anatomical_angles`):
   the joint-limit hinge ``(relu(low - a) + relu(a - high)) / sigma_limits`` (45; its
   squared sum is ``pose_prior_loss / sigma_limits^2``), ``twist / sigma_twist`` (15; the
   twist of a bone about itself is not observable from keypoints), ``(flexion,
   abduction) / sigma_pose`` (30, weak) and ``betas / sigma_betas`` (10, the standard
   normal shape prior of ``shape_prior_loss``).

The solver is Levenberg-Marquardt (Levenberg 1944, Marquardt 1963) with Marquardt's
diagonal scaling and the gain-ratio damping update of Nielsen (1999) as in Madsen,
Nielsen & Tingleff, "Methods for non-linear least squares problems" (2004), sec. 3.2.
The Jacobian of residuals 1-2 is exact: the hand model gives its keypoints' Jacobian in
closed form (:meth:`HandModel.keypoints_with_jacobian`, one pass over the hands themselves,
not over 61 perturbed copies each as forward differences need), chained with the
derivative of the pinhole projection. The priors (3) are (piecewise) linear in the
parameters and get their exact Jacobian too. The model evaluates only its 21 keypoints in
the loop; the mesh is computed once at the end.
A hand stops when its relative cost decrease or its step becomes small (see
:meth:`HandFitter._levenberg_marquardt`); the batch stops when all hands have.

Cost: at these sizes (a few hands, 61 parameters) the time goes into the number of array
operations, not arithmetic. Hence the closed-form Jacobian (one pass over the hands, not
over 61 perturbed copies of each), a trial point's cost before its Jacobian (which is only
formed when the step is accepted and the hand goes on), NumPy float64 for everything but
the hand model (an operation on a few numbers costs a fraction of a tensor operation),
and ``torch.inference_mode`` around the model calls. Measured on the shared 2-core CI
machine (median thread CPU time per hand over real photos): about 6-7 ms for a single
hand, 4-5 ms per hand with two, 3-3.5 ms with three or more; 10-11, 7-8 and 6-7.5 ms
with forward differences (``hand_mesh_core.bench.two_stage_eval``).

Left and right hands share one batch: when the left model is the exact mirror of the
right one (the open model), a left hand is solved as the mirror image of a right hand
(``u -> 2 c_x - u``, ``x -> -x``), so each iteration makes one model call whatever the
sides; otherwise one call per side.

Initialisation (closed form, no iterations; :mod:`.initialisation`): the world
landmarks are placed in the camera by the linear least-squares pinhole solution (their
depth follows from their metric size against their size in pixels) and moved onto the
rays of the 2D landmarks; orientation and hand pose come from inverse kinematics onto that
skeleton (Kabsch on the palm, then the swing of each bone, clipped into the joint limits),
the translation puts the model's wrist on its wrist. In video mode, a hand matched to one
of the previous frame starts from that solution instead.

The fit runs on one CPU thread (:func:`hand_mesh_core.threads.single_cpu_thread`); with
``device="cuda"`` only the hand model's passes run on the GPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from hand_mesh_core.camera import project_np, validate_intrinsics
from hand_mesh_core.hand_model.jacobian import KeypointPass, keypoint_jacobian, keypoint_pass
from hand_mesh_core.hand_model.joint_limits import LIMITS_RAD, anatomical_angles
from hand_mesh_core.threads import single_cpu_thread
from hand_mesh_core.two_stage.initialisation import inverse_kinematics, lift_to_rays, ray_rotation, solve_translation

#: Layout of the parameter vector of one hand.
PARAM_SLICES = {
    "global_orient": slice(0, 3),
    "hand_pose": slice(3, 48),
    "betas": slice(48, 58),
    "transl": slice(58, 61),
}
NUM_PARAMS = 61


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """Weights and stopping rules of :class:`HandFitter`.

    Attributes:
        sigma_2d: reprojection tolerance in metres at the hand's depth (3 mm: about 2 px
            for a hand at 0.5 m seen with f = 500 px).
        sigma_3d: tolerance on the world landmarks in metres (MediaPipe's world landmarks
            are off by 15-25 mm per keypoint on RHD, see the benchmark).
        sigma_pose: standard deviation (rad) of the weak Gaussian prior on flexion and
            abduction angles.
        sigma_twist: standard deviation (rad) of the Gaussian prior on twist angles.
        sigma_limits: tolerance (rad) of the joint-limit hinge. Measured on 80 real hands
            (MediaPipe landmarks of the shared photos): 0.05 leaves limits violated by
            0.3 deg (median) but needs more iterations (the hinge's kinks make steps
            overshoot); 0.15 leaves 2 deg (median, 5 deg p90) at 4 iterations; 0.3
            leaves 6 deg. (Mapping each angle into its range with ``tanh`` instead made the
            fit need 10 iterations.)
        sigma_betas: standard deviation of the Gaussian prior on ``betas``.
        perspective_world: rotate the world landmarks onto the ray through the hand.
        max_iterations: most LM iterations for a single image.
        max_iterations_warm: most LM iterations for a warm-started hand (video).
        initial_damping: Marquardt's ``mu`` at the start (relative to ``diag(J^T J)``).
        ftol: stop when an accepted step lowers the cost by less than this fraction.
        xtol: stop when the step is shorter than ``xtol * (|x| + xtol)``.
    """

    sigma_2d: float = 0.003
    sigma_3d: float = 0.015
    sigma_pose: float = 1.0
    sigma_twist: float = 0.15
    sigma_limits: float = 0.15
    sigma_betas: float = 1.0
    perspective_world: bool = True
    max_iterations: int = 40
    max_iterations_warm: int = 12
    initial_damping: float = 1e-4
    ftol: float = 3e-3
    xtol: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("sigma_2d", "sigma_3d", "sigma_pose", "sigma_twist", "sigma_limits", "sigma_betas"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_iterations < 1 or self.max_iterations_warm < 1:
            raise ValueError("max_iterations and max_iterations_warm must be >= 1")


@dataclasses.dataclass
class _Evaluation:
    """Residuals of a batch of hands at parameters ``x [N, 61]`` (see :meth:`HandFitter._evaluate`).

    NumPy float64 arrays: ``residuals [N, 205]``: reprojection (42), metric shape (63),
    joint limits (45), Gaussian angle prior (45, ``angles * angle_weight``), betas (10);
    ``cost [N]`` is half their squared norm; ``keypoints [N, 21, 3]``; ``beyond [N, 45]``:
    the anatomical angles' signed excess over their limits. ``passes``: ``(side, hand
    indices or None for all, KeypointPass)`` per model call (torch, for the Jacobian).
    """

    x: np.ndarray
    cost: np.ndarray
    residuals: np.ndarray
    keypoints: np.ndarray
    passes: list[tuple[str, np.ndarray | None, KeypointPass]]
    beyond: np.ndarray


@dataclasses.dataclass
class FitResult:
    """Solution for a batch of ``N`` hands (numpy, float32 unless noted).

    Attributes:
        params: float64 ``[N, 61]`` (see :data:`PARAM_SLICES`).
        keypoints_3d: ``[N, 21, 3]`` metres, optical frame, MediaPipe order.
        keypoints_2d: ``[N, 21, 2]`` pixels, ``keypoints_3d`` projected through ``K``.
        vertices: list of ``N`` arrays ``[V, 3]`` metres (None when not computed).
        iterations: int ``[N]`` LM iterations used by each hand.
        converged: bool ``[N]`` stopped by ``ftol``/``xtol`` rather than the iteration cap.
        reprojection_px: ``[N]`` mean reprojection error (pixels) against the landmarks.
    """

    params: np.ndarray
    keypoints_3d: np.ndarray
    keypoints_2d: np.ndarray
    vertices: list[np.ndarray] | None
    iterations: np.ndarray
    converged: np.ndarray
    reprojection_px: np.ndarray

    def part(self, name: str) -> np.ndarray:
        """``[N, k]`` float32 slice of :attr:`params` (``"global_orient"``, ``"hand_pose"``, ...)."""
        return self.params[:, PARAM_SLICES[name]].astype(np.float32)


#: Mirroring x -> -x of the optical frame: points, and the parameter vector of a hand
#: (axis-angles (x, -y, -z), betas unchanged, translation (-x, y, z)).
_POINT_MIRROR = np.array([-1.0, 1.0, 1.0])
_PARAM_MIRROR = np.concatenate([np.tile([1.0, -1.0, -1.0], 16), np.ones(10), _POINT_MIRROR])


class HandFitter:
    """Batched Levenberg-Marquardt fit of the hand model to 2D + metric 3D landmarks.

    Args:
        models: ``{"left": HandModel, "right": HandModel}`` (either may be missing if
            that side is never fitted; ``use_pca=False``). Float64 copies are kept for
            the solver.
        settings: weights and stopping rules (:class:`FitSettings`).
        device: torch device of the hand model's passes (``"cpu"`` is the fastest for a
            few hands); the solver's own arithmetic is NumPy on the CPU.
    """

    def __init__(self, models: dict[str, torch.nn.Module], settings: FitSettings | None = None,
                 device: str = "cpu") -> None:
        if not models or set(models) - {"left", "right"}:
            raise ValueError(f"models must map 'left'/'right' to hand models, got {sorted(models)}")
        self.settings = settings or FitSettings()
        self.device = torch.device(device)
        self.models = {side: m for side, m in models.items()}
        self._models64 = {}
        for side, model in models.items():
            m64 = _clone_float64(model).to(self.device)
            self._models64[side] = m64
        self.mirror_left = self._left_is_mirrored_right()
        self._angle_maps = {side: self._angle_map(side) for side in self._models64}
        self._frames_np = {side: m.joint_frames[1:].detach().cpu().double().numpy() for side, m in self._models64.items()}
        # keypoints of the zero full pose (template), where the inverse kinematics start
        self._mean_pose = {side: m.mean_pose.detach().double().cpu().numpy() for side, m in self._models64.items()}
        self._rest_keypoints = {}
        for side in self.models:
            x = torch.zeros(1, NUM_PARAMS, dtype=torch.float64, device=self.device)
            x[0, PARAM_SLICES["hand_pose"]] = -torch.as_tensor(self._mean_pose[side], device=self.device)
            with torch.no_grad():
                self._rest_keypoints[side] = self._keypoints(side, x)[0].cpu().numpy()

    def _left_is_mirrored_right(self) -> bool:
        """True when the left model is exactly the mirror (x -> -x) of the right one.

        Then a left hand with parameters ``x`` is the mirror image of a right hand with
        ``x * _PARAM_MIRROR`` (axis-angles ``(x, -y, -z)``, translation ``(-x, y, z)``, same
        betas; see :mod:`hand_mesh_core.hand_model.mirror`), and the fit solves every hand
        with the right model in one batch. Checked numerically on random parameters (the
        open model is built mirrored; MANO's two files are not exact mirrors).
        """
        if set(self._models64) != {"left", "right"}:
            return False
        g = torch.Generator().manual_seed(0)
        x = (torch.randn(4, NUM_PARAMS, generator=g, dtype=torch.float64) * 0.4).to(self.device)
        x_mirrored = x * torch.as_tensor(_PARAM_MIRROR, device=self.device)
        with torch.no_grad():
            left = self._keypoints("left", x)
            right = self._keypoints("right", x_mirrored)
            angles = [
                anatomical_angles(xs[:, PARAM_SLICES["hand_pose"]], side, self._models64[side].joint_frames)
                for xs, side in ((x, "left"), (x_mirrored, "right"))
            ]
        points_match = (left - right * torch.as_tensor(_POINT_MIRROR, device=self.device)).abs().max() < 1e-9
        return bool(points_match and torch.allclose(angles[0], angles[1], atol=1e-9))

    # ----------------------------------------------------------------- model calls
    def _keypoints(self, side: str, x: torch.Tensor) -> torch.Tensor:
        """``[M, 21, 3]`` keypoints of the float64 model of ``side`` for parameters ``x [M, 61]``."""
        model = self._models64[side]
        kwargs = dict(
            global_orient=x[:, PARAM_SLICES["global_orient"]],
            hand_pose=x[:, PARAM_SLICES["hand_pose"]],
            betas=x[:, PARAM_SLICES["betas"]],
            transl=x[:, PARAM_SLICES["transl"]],
            compute_vertices=False,
        )
        return model(**kwargs).keypoints

    def _angle_map(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        """``(A [45, 45], a0 [45])`` float64: anatomical angles (joint-major: flexion,
        abduction, twist per joint) are ``A hand_pose + a0`` (:func:`anatomical_angles` is
        linear in the full pose, and the full pose is ``hand_pose + mean_pose``)."""
        model = self._models64[side]
        with torch.no_grad():
            eye = torch.eye(45, dtype=torch.float64, device=self.device)
            A = anatomical_angles(eye, side, frames=model.joint_frames).reshape(45, 45).T
            a0 = anatomical_angles(model.mean_pose[None], side, frames=model.joint_frames).reshape(45)
        return A.cpu().numpy(), a0.cpu().numpy()

    # ----------------------------------------------------------------- residuals
    def _evaluate(self, x: np.ndarray, obs: dict[str, Any]) -> _Evaluation:
        """Residuals and cost of every hand at ``x [N, 61]`` (keypoints-only model passes, one
        per side; no Jacobian yet, see :meth:`_normal_equations`)."""
        st = self.settings
        N = x.shape[0]
        xt = torch.from_numpy(x).to(self.device)
        passes = []
        kp = np.empty((N, 21, 3))
        for side, idx in obs["side_index"].items():
            sub = xt if idx is None else xt[torch.from_numpy(idx).to(self.device)]
            done = keypoint_pass(
                self._models64[side],
                betas=sub[:, PARAM_SLICES["betas"]],
                global_orient=sub[:, PARAM_SLICES["global_orient"]],
                hand_pose=sub[:, PARAM_SLICES["hand_pose"]],
                transl=sub[:, PARAM_SLICES["transl"]],
            )
            passes.append((side, idx, done))
            kp[slice(None) if idx is None else idx] = done.keypoints.cpu().numpy()
        r = np.empty((N, 205))
        r[:, :42] = ((project_np(kp, obs["K"]) - obs["uv"]) * obs["scale_2d"]).reshape(N, 42)
        r[:, 42:105] = ((kp - kp.mean(axis=1, keepdims=True) - obs["world"]) / st.sigma_3d).reshape(N, 63)
        angles = (obs["angle_map"] @ x[:, PARAM_SLICES["hand_pose"], None])[..., 0] + obs["angle_offset"]
        beyond = angles - np.clip(angles, obs["limits"][0], obs["limits"][1])  # signed excess over the limits
        r[:, 105:150] = np.abs(beyond) / st.sigma_limits
        r[:, 150:195] = angles * obs["angle_weight"]
        r[:, 195:] = x[:, PARAM_SLICES["betas"]] / st.sigma_betas
        return _Evaluation(x, 0.5 * (r * r).sum(axis=1), r, kp, passes, beyond)

    def _normal_equations(self, ev: _Evaluation, obs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Newton normal equations ``(J^T J [N, 61, 61], J^T r [N, 61])`` at an
        evaluation, with the exact Jacobian ``J`` of all residuals.

        Model residuals: the hand model's keypoint Jacobian (:func:`keypoint_jacobian`)
        chained with the pinhole projection (:func:`_projection_jacobian`) and the centring.
        Priors: the angles are ``A hand_pose + a0`` (``A = obs["angle_map"]``), so their rows
        are ``diag(w) A`` with ``w`` the joint-limit slope (``+-1/sigma_limits`` outside a
        limit, 0 inside) or the Gaussian weight, and the betas' rows ``I / sigma_betas``;
        their ``J^T J`` and ``J^T r`` are formed directly.
        """
        st = self.settings
        N = ev.x.shape[0]
        d_kp = np.empty((N, 21, 3, NUM_PARAMS))
        for side, idx, done in ev.passes:
            d_kp[slice(None) if idx is None else idx] = keypoint_jacobian(self._models64[side], done).cpu().numpy()
        J = np.empty((N, 105, NUM_PARAMS))
        J[:, :42] = (_projection_jacobian(ev.keypoints, d_kp, obs["K"]) * obs["scale_2d"][..., None]).reshape(N, 42, -1)
        J[:, 42:] = ((d_kp - d_kp.mean(axis=1, keepdims=True)) / st.sigma_3d).reshape(N, 63, -1)
        Jt = J.transpose(0, 2, 1)
        A = Jt @ J
        g = (Jt @ ev.residuals[:, :105, None])[..., 0]
        slope = np.sign(ev.beyond) / st.sigma_limits
        weight = obs["angle_weight"]
        angle_map = obs["angle_map"]
        pose = PARAM_SLICES["hand_pose"]
        A[:, pose, pose] += angle_map.transpose(0, 2, 1) @ ((slope * slope + weight * weight)[..., None] * angle_map)
        g[:, pose] += (angle_map.transpose(0, 2, 1) @ (slope * ev.residuals[:, 105:150]
                                                       + weight * ev.residuals[:, 150:195])[..., None])[..., 0]
        betas = np.arange(NUM_PARAMS)[PARAM_SLICES["betas"]]
        A[:, betas, betas] += 1.0 / st.sigma_betas ** 2
        g[:, betas] += ev.residuals[:, 195:] / st.sigma_betas
        return A, g

    # ----------------------------------------------------------------- public API
    def initial_params(self, sides: Sequence[str], keypoints_2d: np.ndarray, world: np.ndarray,
                       K: np.ndarray, cam_world: np.ndarray | None = None) -> np.ndarray:
        """Closed-form start ``[N, 61]`` float64 (see :mod:`.initialisation`).

        The (perspective-corrected) world landmarks are placed by the least-squares pinhole
        solution and lifted onto the landmark rays; orientation and hand pose by inverse
        kinematics onto that skeleton (clipped into the joint limits), mean shape, wrist on
        its wrist. Shapes as in :meth:`fit`; ``cam_world`` (``[N, 21, 3]``, from
        :meth:`camera_world`) may be passed when already computed.
        """
        N = len(sides)
        x0 = np.zeros((N, NUM_PARAMS))
        if cam_world is None:
            cam_world = np.stack([self.camera_world(keypoints_2d[n], world[n], K) for n in range(N)])
        located = np.stack([cam_world[n] + solve_translation(cam_world[n], keypoints_2d[n], K) for n in range(N)])
        targets = np.stack([lift_to_rays(located[n], keypoints_2d[n], K) for n in range(N)])
        for side in sorted(set(sides)):
            idx = [n for n, s in enumerate(sides) if s == side]
            go, hp = inverse_kinematics(self._rest_keypoints[side], targets[idx])
            x0[idx, PARAM_SLICES["global_orient"]] = go
            x0[idx, PARAM_SLICES["hand_pose"]] = self._clamp_to_limits(side, hp) - self._mean_pose[side]
        for n, side in enumerate(sides):
            # MANO semantics: the root joint (wrist) sits at its rest position + transl
            # whatever the rotations, so put it on the lifted skeleton's wrist.
            x0[n, PARAM_SLICES["transl"]] = targets[n, 0] - self._rest_keypoints[side][0]
        return x0

    def _clamp_to_limits(self, side: str, full_pose: np.ndarray) -> np.ndarray:
        """``[N, 45]`` full pose with its anatomical angles clipped into the joint limits.

        The angles are the pose in each joint's anatomical frame ``F`` (columns flexion,
        abduction, twist axes), ``F^T r`` (:func:`anatomical_angles`); clipped, they map back
        with ``F`` (:func:`~hand_mesh_core.hand_model.joint_limits.pose_from_anatomical`). Written with NumPy on the model's frames:
        a handful of small products, cheaper than torch calls at this size.
        """
        frames = self._frames_np[side]  # [15, 3, 3]
        angles = (full_pose.reshape(-1, 15, 1, 3) @ frames)[:, :, 0]  # [N, 15, 3]
        angles = np.clip(angles, LIMITS_RAD[..., 0], LIMITS_RAD[..., 1])
        return (frames @ angles[..., None]).reshape(-1, 45)

    def camera_world(self, uv: np.ndarray, world: np.ndarray, K: np.ndarray) -> np.ndarray:
        """``[21, 3]`` world landmarks ``world [21, 3]`` (m) centred and, with
        ``settings.perspective_world``, rotated by :func:`.initialisation.ray_rotation` onto
        the ray through the mean of ``uv [21, 2]`` (pixels)."""
        w = world - world.mean(axis=0)
        if self.settings.perspective_world:
            w = w @ ray_rotation(K, uv.mean(axis=0)).T
        return w

    def fit(
        self,
        sides: Sequence[str],
        keypoints_2d: np.ndarray,
        world: np.ndarray,
        K: np.ndarray,
        init: Sequence[np.ndarray | None] | None = None,
        compute_vertices: bool = True,
    ) -> FitResult:
        """Fit ``N`` hands of one image.

        Args:
            sides: ``N`` sides, ``"left"`` / ``"right"``.
            keypoints_2d: ``[N, 21, 2]`` pixels, MediaPipe order.
            world: ``[N, 21, 3]`` metres, MediaPipe world landmarks (hand-centred,
                camera-aligned axes).
            K: ``[3, 3]`` intrinsics (pixels) of this image.
            init: optional ``N`` entries, each a ``[61]`` start (e.g. the previous
                frame's solution) or None for the closed-form start. Warm-started hands
                use ``settings.max_iterations_warm``.
            compute_vertices: also return the meshes (one full forward pass per side).

        Returns:
            A :class:`FitResult`. ``N = 0`` gives empty arrays.

        Raises:
            ValueError: inconsistent shapes, an unknown or unloaded side, a bad ``K``.
        """
        K = validate_intrinsics(K)
        keypoints_2d = np.asarray(keypoints_2d, dtype=np.float64).reshape(-1, 21, 2)
        world = np.asarray(world, dtype=np.float64).reshape(-1, 21, 3)
        N = len(sides)
        if keypoints_2d.shape[0] != N or world.shape[0] != N:
            raise ValueError(f"got {N} sides, {keypoints_2d.shape[0]} 2D and {world.shape[0]} world landmark sets")
        for side in sides:
            if side not in self.models:
                raise ValueError(f"no hand model for side {side!r} (have {sorted(self.models)})")
        if N == 0:
            return FitResult(np.zeros((0, NUM_PARAMS)), np.zeros((0, 21, 3), np.float32), np.zeros((0, 21, 2), np.float32),
                             [] if compute_vertices else None, np.zeros(0, int), np.zeros(0, bool), np.zeros(0, np.float32))
        init = list(init) if init is not None else [None] * N
        if len(init) != N:
            raise ValueError(f"init has {len(init)} entries for {N} hands")
        warm = np.array([p is not None for p in init])
        x_init = np.zeros((N, NUM_PARAMS))
        for n, p in enumerate(init):
            if p is not None:
                x_init[n] = np.asarray(p, dtype=np.float64).reshape(NUM_PARAMS)
        # Left hands as mirrored right hands (one model call per iteration for the batch)
        flip = np.array([s == "left" for s in sides]) if self.mirror_left else np.zeros(N, bool)
        solve_sides = ["right" if f else s for s, f in zip(sides, flip)]
        uv_solve = np.where(flip[:, None, None], keypoints_2d * [-1.0, 1.0] + [2.0 * K[0, 2], 0.0], keypoints_2d)
        world_solve = np.where(flip[:, None, None], world * _POINT_MIRROR, world)
        x_init = np.where(flip[:, None], x_init * _PARAM_MIRROR, x_init)
        # inference mode: no autograd bookkeeping at all (about 15% of the fit's CPU time)
        with single_cpu_thread() if self.device.type == "cpu" else contextlib.nullcontext(), torch.inference_mode():
            cam_world = np.stack([self.camera_world(uv_solve[n], world_solve[n], K) for n in range(N)])
            x0 = x_init.copy()
            cold = np.nonzero(~warm)[0]
            if len(cold):  # the closed-form start only where no warm start is given
                x0[cold] = self.initial_params([solve_sides[n] for n in cold], uv_solve[cold], world_solve[cold], K,
                                               cam_world[cold])
            max_iters = np.where(warm, self.settings.max_iterations_warm, self.settings.max_iterations)
            obs = self._observations(solve_sides, uv_solve, cam_world, K, x0)
            x, iterations, converged = self._levenberg_marquardt(x0, obs, max_iters)
            x = np.where(flip[:, None], x * _PARAM_MIRROR, x)
            return self._result(sides, x, K, keypoints_2d, iterations, converged, compute_vertices)

    def _observations(self, sides, keypoints_2d, cam_world, K, x0) -> dict[str, Any]:
        """Arrays the residuals need (float64; ``cam_world``: :meth:`camera_world` of each hand)."""
        st = self.settings
        # metres per pixel at the initial depth of each hand (z of the translation)
        z0 = np.maximum(x0[:, PARAM_SLICES["transl"]][:, 2], 0.05)
        px_to_m = z0 / np.sqrt(K[0, 0] * K[1, 1])
        groups = sorted(set(sides))
        side_index = {  # None: every hand
            side: None if len(groups) == 1 else np.array([n for n, s in enumerate(sides) if s == side])
            for side in groups
        }
        limits = LIMITS_RAD.reshape(45, 2)
        # Gaussian prior weight of each anatomical angle: twist, or flexion/abduction
        weight = np.tile([1.0 / st.sigma_pose, 1.0 / st.sigma_pose, 1.0 / st.sigma_twist], 15)
        return {
            "K": K,
            "uv": keypoints_2d,
            "world": cam_world,
            "scale_2d": (px_to_m / st.sigma_2d)[:, None, None],
            "side_index": side_index,
            "angle_map": np.stack([self._angle_maps[s][0] for s in sides]),
            "angle_offset": np.stack([self._angle_maps[s][1] for s in sides]),
            "angle_weight": weight,
            "limits": (limits[:, 0], limits[:, 1]),
        }

    @torch.inference_mode()
    def _levenberg_marquardt(self, x: np.ndarray, obs: dict[str, Any], max_iters: np.ndarray):
        """Batched LM from ``x [N, 61]``; returns the solution ``[N, 61]``, iterations ``[N]``
        and convergence flags ``[N]``.

        Damped normal equations ``(J^T J + mu D) h = -J^T r`` with Marquardt's scaling
        ``D = diag(J^T J)``; ``mu`` follows Nielsen's gain-ratio rule (Madsen et al. 2004,
        eq. 3.16). A hand has converged when an accepted step lowered its cost by less
        than ``ftol * cost`` (as ``ftol`` of MINPACK / ``scipy.optimize.least_squares``),
        when the next, lightly damped (``mu <= 1``) step predicts a decrease below
        ``ftol * cost`` (then it is not even evaluated), or when its step is shorter than
        ``xtol (|x| + xtol)``.

        A trial point is evaluated without its Jacobian; the normal equations are formed
        only when a hand accepts the step and goes on. Everything but the hand model runs
        in NumPy float64 (a NumPy operation on these few numbers costs a fraction of a
        tensor operation); the 61x61 systems are solved by torch's LU (NumPy's is several
        times slower here).
        """
        st = self.settings
        ev = self._evaluate(x, obs)
        A, g = self._normal_equations(ev, obs)
        cost = ev.cost
        N = x.shape[0]
        diagonal = np.arange(NUM_PARAMS)
        mu = np.full(N, st.initial_damping)
        nu = np.full(N, 2.0)
        active = np.ones(N, dtype=bool)
        converged = np.zeros(N, dtype=bool)
        iterations = np.zeros(N, dtype=np.int64)
        while True:
            active &= iterations < max_iters
            if not active.any():
                break
            damping = mu[:, None] * np.maximum(A[:, diagonal, diagonal], 1e-9)
            damped = A.copy()
            damped[:, diagonal, diagonal] += damping
            step = -torch.linalg.solve(torch.from_numpy(damped), torch.from_numpy(g)).numpy()
            predicted = 0.5 * (step * (damping * step - g)).sum(axis=1)
            # nothing left to gain: a lightly damped step predicts less than ftol * cost
            settled = active & (mu <= 1.0) & (predicted <= st.ftol * cost)
            converged |= settled
            active &= ~settled
            if not active.any():
                break
            step *= active[:, None]
            x_new = x + step
            ev_new = self._evaluate(x_new, obs)
            cost_new = ev_new.cost
            rho = (cost - cost_new) / np.maximum(predicted, 1e-30)
            accept = active & (cost_new < cost)
            iterations += active
            short = np.sqrt((step * step).sum(axis=1)) <= st.xtol * (np.sqrt((x * x).sum(axis=1)) + st.xtol)
            done = (accept & (cost - cost_new <= st.ftol * cost)) | (active & short)
            converged |= done
            active &= ~done
            if accept.any():
                go_on = accept & active & (iterations < max_iters)
                if go_on.any():
                    A_new, g_new = self._normal_equations(ev_new, obs)
                    A[go_on], g[go_on] = A_new[go_on], g_new[go_on]
                x = np.where(accept[:, None], x_new, x)
                cost = np.where(accept, cost_new, cost)
            shrink = np.maximum(1.0 - (2.0 * rho - 1.0) ** 3, 1.0 / 3.0)
            mu = np.where(accept, mu * shrink, mu * nu)
            nu = np.where(accept, 2.0, nu * 2.0)
        return x, iterations, converged

    def _result(self, sides, x, K, keypoints_2d, iterations, converged, compute_vertices) -> FitResult:
        """The :class:`FitResult` of the solution ``x [N, 61]`` (NumPy; one model pass per side)."""
        N = len(sides)
        vertices: list[np.ndarray] | None = [None] * N if compute_vertices else None  # type: ignore[list-item]
        kp = np.zeros((N, 21, 3))
        xt = torch.from_numpy(x).to(self.device)
        with torch.no_grad():
            for side in sorted(set(sides)):
                idx = [n for n, s in enumerate(sides) if s == side]
                sub = xt if len(idx) == N else xt[idx]
                if compute_vertices:
                    out = self._models64[side](
                        global_orient=sub[:, PARAM_SLICES["global_orient"]],
                        hand_pose=sub[:, PARAM_SLICES["hand_pose"]],
                        betas=sub[:, PARAM_SLICES["betas"]],
                        transl=sub[:, PARAM_SLICES["transl"]],
                    )
                    for j, n in enumerate(idx):
                        vertices[n] = out.vertices[j].float().cpu().numpy()  # type: ignore[index]
                    kp_side = out.keypoints
                else:
                    kp_side = self._keypoints(side, sub)
                kp[idx] = kp_side.cpu().numpy()
        uv = project_np(kp, K)
        err = np.linalg.norm(uv - keypoints_2d, axis=-1).mean(axis=-1)
        return FitResult(
            params=x,
            keypoints_3d=kp.astype(np.float32),
            keypoints_2d=uv.astype(np.float32),
            vertices=vertices,
            iterations=iterations,
            converged=converged,
            reprojection_px=err.astype(np.float32),
        )


def _projection_jacobian(points: np.ndarray, d_points: np.ndarray, K: np.ndarray,
                         min_depth: float = 1e-4) -> np.ndarray:
    """Jacobian ``[N, M, 2, P]`` of :func:`hand_mesh_core.camera.project_np` (pixels) at
    ``points [N, M, 3]`` (metres), chained with ``d_points [N, M, 3, P]``.

    ``u = f_x X / Z + c_x``, ``v = f_y Y / Z + c_y`` with ``Z`` clamped to ``min_depth``
    as ``project_np`` does (no depth derivative where the clamp is active).
    """
    depth = points[..., 2:3]
    inv = 1.0 / np.maximum(depth, min_depth)  # [N, M, 1]
    xy = points[..., :2] * inv * (depth > min_depth)  # [N, M, 2]
    d_xy = (d_points[..., :2, :] - xy[..., None] * d_points[..., 2:3, :]) * inv[..., None]
    return d_xy * np.array([[K[0, 0]], [K[1, 1]]])


def _clone_float64(model: torch.nn.Module) -> torch.nn.Module:
    """A float64 copy of ``model`` (the caller's model keeps its dtype)."""
    import copy

    return copy.deepcopy(model).double().eval()


__all__ = [
    "HandFitter",
    "FitSettings",
    "FitResult",
    "PARAM_SLICES",
    "NUM_PARAMS",
]
