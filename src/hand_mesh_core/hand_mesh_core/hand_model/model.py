"""``HandModel``: the parametric hand model as a ``torch.nn.Module`` (open default or MANO).

Semantics are MANO's (Romero et al. 2017, as implemented by ``smplx.MANO``), whatever the
backend, so that parameters mean the same with both:

* ``betas [B, S]`` shape coefficients (S = 10). Open model: designed, documented
  directions (:mod:`.shape_space`); MANO: PCA modes of scans.
* ``global_orient [B, 3]`` axis-angle (radians) rotating the hand about its root joint
  (the wrist of the *shaped* template); ``transl [B, 3]`` metres added afterwards.
* ``hand_pose [B, 45]`` (15 joints x axis-angle, radians, relative to the parent, axes of
  the canonical frame), or ``[B, num_pca_comps]`` with ``use_pca=True`` (MANO only).
* Canonical frame of the right hand: fingers along -x, palm facing -y, thumb towards +z;
  the left hand is its mirror (x -> -x), and a right-hand pose ``(x, y, z)`` per joint is
  the left-hand pose ``(x, -y, -z)`` (:func:`.mirror.mirror_pose`).

Outputs are in the frame the caller's ``global_orient`` / ``transl`` define, typically the
camera optical frame (REP-103: x right, y down, z forward).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hand_mesh_core.hand_model import jacobian, lbs
from hand_mesh_core.hand_model.keypoints import MANO_PARENTS
from hand_mesh_core.hand_model.model_data import SIDES, HandModelData

BACKENDS = ("open", "mano")

#: Environment variable naming the folder of ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``, used
#: when ``backend="mano"`` and no ``model_path`` is given.
MANO_DIR_ENV = "HAND_MESH_MANO_DIR"


@dataclass
class HandModelOutput:
    """What :meth:`HandModel.forward` returns (metres, the frame of global_orient/transl).

    Attributes:
        vertices: ``[B, V, 3]`` mesh vertices, or None with ``compute_vertices=False``.
        joints: ``[B, 16, 3]`` joints in MANO order (see ``MANO_JOINT_NAMES``).
        keypoints: ``[B, 21, 3]`` MediaPipe/OpenPose order: the 16 joints plus the 5
            fingertip vertices ``HandModel.tip_vertex_ids``.
    """

    vertices: torch.Tensor | None
    joints: torch.Tensor
    keypoints: torch.Tensor


def load_model_data(side: str = "right", backend: str = "open",
                    model_path: str | os.PathLike | None = None) -> HandModelData:
    """Load the arrays of a hand model (cached per file).

    Args:
        side: ``"right"`` or ``"left"``.
        backend: ``"open"`` (shipped model; ``model_path`` may name another converter
            output ``.npz``) or ``"mano"`` (``model_path``: ``MANO_{SIDE}.pkl`` or the folder
            holding it; default ``$HAND_MESH_MANO_DIR``).

    Raises:
        ValueError: unknown side or backend.
        FileNotFoundError: the model file is missing (for MANO the message says where
            MANO comes from and which path was tried).
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if backend == "open":
        from hand_mesh_core.hand_model.open_model import load_open_model

        return load_open_model(side, Path(model_path) if model_path is not None else None)
    if backend == "mano":
        from hand_mesh_core.hand_model.mano_loader import load_mano, resolve_mano_path

        if model_path is None:
            model_path = os.environ.get(MANO_DIR_ENV)
        return load_mano(resolve_mano_path(model_path, side), side)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def _f64(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64))


class HandModel(nn.Module):
    """Parametric hand model with MANO's parameters and outputs (see the module docstring).

    Args:
        side: ``"right"`` or ``"left"``.
        backend: ``"open"`` (default; the shipped, MIT-derived model, 1159 vertices) or
            ``"mano"`` (user-supplied MANO files, 778 vertices; never shipped). MANO gives
            ``smplx.MANO``'s vertices and joints (tested); the convention differences
            (fingertip ids, joint and keypoint order, left-file fix, defaults) are listed
            in :mod:`.mano_loader`.
        model_path: see :func:`load_model_data`.
        flat_hand_mean: True (default, as manopth): ``hand_pose = 0`` is the flat template.
            False (as ``smplx``): the model's mean pose :attr:`mean_pose` is added to
            ``hand_pose`` (MANO's relaxed ``hands_mean``; zeros for the open model, which
            has no learned mean).
        use_pca: ``hand_pose`` holds ``num_pca_comps`` PCA coefficients (MANO only).
        num_pca_comps: number of PCA components (1..45) with ``use_pca``.
        data: model arrays to use instead of loading a file (see :meth:`from_data`).
        dtype: floating dtype of the buffers (default ``torch.get_default_dtype()``);
            building in float64 directly keeps the file's float64 precision (MANO), which
            ``.double()`` after a float32 build cannot.

    Buffers (move with ``.to(device, dtype)``; float16 works on CPU and CUDA):
    ``v_template [V,3]``, ``shapedirs [V,3,S]``, ``lbs_weights [V,16]``, ``j_regressor
    [16,V]``, ``faces [F,3]`` (int64), ``uvs [V,2]`` (per vertex; at UV seams the vertex's
    first UV), ``face_uvs [F,3,2]`` (exact per corner; None for MANO), ``tip_vertex_ids [5]``
    (int64), ``mean_pose [45]``, ``joint_frames [16,3,3]``, ``posedirs [135, V*3]`` (MANO's
    pose correctives; None for the open model), and precomputed joint/tip blend shapes.

    Attributes:
        tip_vertex_ids: vertex ids of the thumb, index, middle, ring and pinky tips, which
            become keypoints 4, 8, 12, 16, 20. Open model: the outermost vertex of each
            distal segment along its axis; MANO: ``smplx``'s ids [744, 320, 443, 554, 671].
        faces: triangles wound counter-clockwise seen from outside (outward normals) for
            both sides of the open model; the left model's faces are the right's with two
            corners swapped, because mirroring reverses the winding. MANO faces are used
            as found in the user's file.
    """

    def __init__(self, side: str = "right", backend: str = "open",
                 model_path: str | os.PathLike | None = None, *, flat_hand_mean: bool = True,
                 use_pca: bool = False, num_pca_comps: int = 6,
                 data: HandModelData | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if data is None:
            data = load_model_data(side, backend, model_path)
        elif data.side != side:
            raise ValueError(f"data holds the {data.side} hand, side={side!r} was given")
        self.side = side
        self.backend = backend
        self.name = data.name
        self.flat_hand_mean = flat_hand_mean
        self.use_pca = use_pca
        self.shape_names = data.shape_names
        dt = dtype or torch.get_default_dtype()
        reg = _f64(data.j_regressor)
        v0, sd = _f64(data.v_template), _f64(data.shapedirs)
        tips = torch.tensor(data.tip_vertex_ids, dtype=torch.long)
        self.register_buffer("v_template", v0.to(dt))
        self.register_buffer("shapedirs", sd.to(dt))
        weights = _f64(data.weights)
        weights = weights / weights.sum(1, keepdim=True)  # exact partition of unity
        self.register_buffer("lbs_weights", weights.to(dt))
        self.register_buffer("j_regressor", reg.to(dt))
        self.register_buffer("faces", torch.tensor(data.faces, dtype=torch.long))
        uvs = data.uvs if data.uvs is not None else np.zeros((data.num_vertices, 2))
        self.register_buffer("uvs", _f64(uvs).to(dt))
        self.register_buffer("tip_vertex_ids", tips)
        if data.face_uvs is not None:
            self.register_buffer("face_uvs", _f64(data.face_uvs).to(dt))
        else:
            self.face_uvs = None
        # joints and tips as linear functions of betas (same maps as regressing v_shaped)
        self.register_buffer("j_template", (reg @ v0).to(dt))
        self.register_buffer("j_shapedirs", torch.einsum("jv,vcs->jcs", reg, sd).to(dt))
        self.register_buffer("tip_template", v0[tips].to(dt))
        self.register_buffer("tip_shapedirs", sd[tips].to(dt))
        self.register_buffer("tip_weights", weights[tips].to(dt))
        if data.posedirs is not None:
            pd = _f64(data.posedirs)
            cols = (tips[:, None] * 3 + torch.arange(3)).reshape(-1)
            self.register_buffer("posedirs", pd.to(dt))
            self.register_buffer("tip_posedirs", pd[:, cols].to(dt))
        else:
            self.posedirs = None
            self.tip_posedirs = None
        mean = data.hands_mean if not flat_hand_mean else np.zeros(45)
        self.register_buffer("mean_pose", _f64(mean).to(dt))
        frames = data.joint_frames
        if frames is None:  # e.g. MANO: use the open model's anatomical frames (same canonical frame)
            from hand_mesh_core.hand_model.open_model import load_open_model

            frames = load_open_model(side).joint_frames
        self.register_buffer("joint_frames", _f64(frames).to(dt))
        if use_pca:
            if data.hands_components is None:
                raise ValueError(f"the {backend} hand model has no pose PCA basis: use_pca=False")
            if not 1 <= num_pca_comps <= data.hands_components.shape[0]:
                raise ValueError(f"num_pca_comps must be in [1, {data.hands_components.shape[0]}], "
                                 f"got {num_pca_comps}")
            self.register_buffer("pca_basis", _f64(data.hands_components[:num_pca_comps]).to(dt))
        else:
            self.pca_basis = None
        self.num_pca_comps = num_pca_comps if use_pca else 0

    # ------------------------------------------------------------------ properties
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def parents(self) -> tuple[int, ...]:
        return MANO_PARENTS

    @property
    def pose_dim(self) -> int:
        """Width of ``hand_pose``: 45, or ``num_pca_comps`` with ``use_pca``."""
        return self.num_pca_comps if self.use_pca else 45

    def extra_repr(self) -> str:
        return (f"name={self.name}, side={self.side}, backend={self.backend}, "
                f"vertices={self.num_vertices}, betas={self.num_betas}, "
                f"flat_hand_mean={self.flat_hand_mean}, pose_dim={self.pose_dim}")

    @classmethod
    def from_data(cls, data: HandModelData, backend: str = "custom", **options) -> HandModel:
        """A model from arrays already in memory (a custom model, or a loader's output);
        ``backend`` is only a label. ``options`` as for the constructor."""
        return cls(data.side, backend, data=data, **options)

    @classmethod
    def pair(cls, backend: str = "open", model_path: str | os.PathLike | None = None,
             **kwargs) -> dict[str, HandModel]:
        """Both sides at once: ``{"right": HandModel, "left": HandModel}``.

        Cheap: model files are loaded once per process (cached). With ``backend="mano"``
        ``model_path`` must be the folder holding both pickles (or None for the env var).
        """
        return {side: cls(side, backend, model_path, **kwargs) for side in SIDES}

    # ------------------------------------------------------------------ forward
    def _input(self, x, name: str, width: int, batch: int | None) -> torch.Tensor | None:
        if x is None:
            return None
        x = torch.as_tensor(x).to(device=self.v_template.device, dtype=self.v_template.dtype)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{name} must have shape [B, {width}], got {tuple(x.shape)}")
        if batch is not None and x.shape[0] != batch:
            raise ValueError(f"{name} has batch size {x.shape[0]}, other inputs {batch}")
        return x

    def full_pose(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """``hand_pose`` as 45 axis-angle values: PCA decoded and mean pose added, ``[B, 45]``."""
        if self.pca_basis is not None:
            hand_pose = hand_pose @ self.pca_basis
        return hand_pose + self.mean_pose

    def forward(self, betas=None, global_orient=None, hand_pose=None, transl=None,
                compute_vertices: bool = True) -> HandModelOutput:
        """Pose and shape the hand.

        Args:
            betas: ``[B, S]`` shape coefficients (S = :attr:`num_betas`), default zeros.
            global_orient: ``[B, 3]`` axis-angle (radians) about the wrist, default zeros.
            hand_pose: ``[B, 45]`` (or ``[B, num_pca_comps]`` with ``use_pca``) axis-angle
                per joint relative to its parent, radians, default zeros.
            transl: ``[B, 3]`` metres added to every output point, default zeros.
            compute_vertices: False skips skinning the mesh (only the 5 tip vertices are
                skinned): joints and keypoints are identical, ``vertices`` is None.

        Inputs are converted to the model's device and dtype (tensors keep their autograd
        graph). The batch size comes from the inputs given (1 when none is).

        Returns:
            :class:`HandModelOutput`.

        Raises:
            ValueError: an input has a wrong shape or the batch sizes differ.
        """
        betas, global_orient, hand_pose, transl = self.prepare_inputs(betas, global_orient, hand_pose, transl)
        # the steps of lbs (MANO, see its module docstring): 1-3 for the skeleton
        rest_joints = lbs.rest_points(self.j_template, self.j_shapedirs, betas)
        art = lbs.articulate(global_orient, self.full_pose(hand_pose), rest_joints,
                             pose_correctives=self.posedirs is not None)
        vertices = None
        if compute_vertices:  # 1, 2 and 4 for the whole mesh
            rest = lbs.rest_points(self.v_template, self.shapedirs, betas, art.feature, self.posedirs)
            vertices = lbs.skin(rest, self.lbs_weights, art.a_rot, art.a_trans)
            tips = vertices.index_select(1, self.tip_vertex_ids)
        else:  # for the 5 fingertip vertices only
            tip_rest = lbs.rest_points(self.tip_template, self.tip_shapedirs, betas, art.feature, self.tip_posedirs)
            tips = lbs.skin(tip_rest, self.tip_weights, art.a_rot, art.a_trans)
        keypoints = lbs.keypoints(art.joints, tips)
        joints = art.joints
        if transl is not None:
            offset = transl[:, None]
            joints = joints + offset
            keypoints = keypoints + offset
            if vertices is not None:
                vertices = vertices + offset
        return HandModelOutput(vertices=vertices, joints=joints, keypoints=keypoints)

    def keypoints_with_jacobian(self, betas=None, global_orient=None, hand_pose=None,
                                transl=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints and their exact Jacobian (see :func:`.jacobian.keypoints_with_jacobian`).

        Arguments as for :meth:`forward`. Returns ``keypoints [B, 21, 3]`` (identical to
        ``forward(..., compute_vertices=False).keypoints``) and ``jacobian [B, 21, 3, P]``
        with ``P = 3 + pose_dim + num_betas + 3`` columns ``[global_orient, hand_pose, betas,
        transl]``.
        """
        return jacobian.keypoints_with_jacobian(self, betas, global_orient, hand_pose, transl)

    # ------------------------------------------------------------------ forward steps
    def prepare_inputs(self, betas=None, global_orient=None, hand_pose=None, transl=None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The inputs of :meth:`forward` checked and completed: ``(betas [B, S],
        global_orient [B, 3], hand_pose [B, pose_dim], transl [B, 3] or None)`` on the
        model's device and dtype (tensors keep their autograd graph), zeros for missing
        ones (``transl`` stays None). The batch size comes from the inputs given (1 when
        none is).

        Raises:
            ValueError: an input has a wrong shape or the batch sizes differ.
        """
        given = [x for x in (betas, global_orient, hand_pose, transl) if x is not None]
        batch = len(given[0]) if given and getattr(given[0], "ndim", 1) > 0 else None
        betas = self._input(betas, "betas", self.num_betas, batch)
        global_orient = self._input(global_orient, "global_orient", 3, batch)
        hand_pose = self._input(hand_pose, "hand_pose", self.pose_dim, batch)
        transl = self._input(transl, "transl", 3, batch)
        b = batch or 1
        zeros = self.v_template.new_zeros
        if betas is None:
            betas = zeros(b, self.num_betas)
        if global_orient is None:
            global_orient = zeros(b, 3)
        if hand_pose is None:
            hand_pose = zeros(b, self.pose_dim)
        return betas, global_orient, hand_pose, transl

    def pose_prior(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """Joint-limit loss ``[B]`` of ``hand_pose [B, pose_dim]`` with this model's joint
        frames and side (see :func:`.joint_limits.pose_prior_loss`)."""
        from hand_mesh_core.hand_model.joint_limits import pose_prior_loss

        return pose_prior_loss(self.full_pose(hand_pose), side=self.side, frames=self.joint_frames)
