"""The arrays that define a parametric hand model, whatever file they came from.

Both loaders (``open_model.load_open_model`` and ``mano_loader.load_mano``) return a
:class:`HandModelData`; :class:`~hand_mesh_core.hand_model.HandModel` turns it into torch
buffers. Keeping the file formats apart from the maths keeps each loader small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hand_mesh_core.hand_model.keypoints import MANO_PARENTS

SIDES = ("right", "left")


@dataclass(frozen=True)
class HandModelData:
    """Arrays of one hand model, one side, in MANO's canonical frame (metres).

    Attributes:
        name: model identifier, e.g. ``"open_hand_v1"`` or ``"mano_v1_2"``.
        side: ``"right"`` or ``"left"``.
        v_template: ``[V, 3]`` float64, rest vertices (zero shape, zero pose).
        faces: ``[F, 3]`` int64 triangle vertex indices, counter-clockwise seen from
            outside (normals point outwards) for the open model.
        shapedirs: ``[V, 3, S]`` float64 shape blend shapes (S = number of betas).
        j_regressor: ``[16, V]`` float64, joints = ``j_regressor @ vertices`` (MANO order).
        weights: ``[V, 16]`` float64 linear-blend-skinning weights, rows sum to 1.
        tip_vertex_ids: ``[5]`` int64 vertex ids of the thumb, index, middle, ring and
            pinky tips (keypoints 4, 8, 12, 16, 20).
        hands_mean: ``[45]`` float64 mean hand pose (axis-angle, radians) added to
            ``hand_pose`` when the model is built with ``flat_hand_mean=False``.
        posedirs: ``[15 * 9, V * 3]`` float64 pose-corrective blend shapes, or None.
        hands_components: ``[K, 45]`` float64 PCA basis of hand poses, or None.
        uvs: ``[V, 2]`` float64 texture coordinates per vertex, or None.
        face_uvs: ``[F, 3, 2]`` float64 texture coordinates per face corner (exact at UV
            seams), or None.
        shape_names: names of the S shape coefficients, or None (MANO's are PCA modes).
        joint_frames: ``[16, 3, 3]`` float64 anatomical frame per joint, columns =
            (flexion axis, abduction axis, twist axis), or None.
    """

    name: str
    side: str
    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    tip_vertex_ids: np.ndarray
    hands_mean: np.ndarray
    posedirs: np.ndarray | None = None
    hands_components: np.ndarray | None = None
    uvs: np.ndarray | None = None
    face_uvs: np.ndarray | None = None
    shape_names: tuple[str, ...] | None = None
    joint_frames: np.ndarray | None = None

    def __post_init__(self) -> None:
        validate(self)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])


def validate(d: HandModelData) -> None:
    """Check shapes, index ranges and weights of ``d``; raise ``ValueError`` naming the field."""
    if d.side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {d.side!r}")
    v = d.v_template.shape[0] if d.v_template.ndim == 2 else -1
    checks = [
        ("v_template", d.v_template.shape == (v, 3)),
        ("faces", d.faces.ndim == 2 and d.faces.shape[1] == 3),
        ("shapedirs", d.shapedirs.ndim == 3 and d.shapedirs.shape[:2] == (v, 3)),
        ("j_regressor", d.j_regressor.shape == (len(MANO_PARENTS), v)),
        ("weights", d.weights.shape == (v, len(MANO_PARENTS))),
        ("tip_vertex_ids", d.tip_vertex_ids.shape == (5,)),
        ("hands_mean", d.hands_mean.shape == (45,)),
        ("posedirs", d.posedirs is None or d.posedirs.shape == (135, 3 * v)),
        ("hands_components", d.hands_components is None
         or (d.hands_components.ndim == 2 and d.hands_components.shape[1] == 45)),
        ("uvs", d.uvs is None or d.uvs.shape == (v, 2)),
        ("face_uvs", d.face_uvs is None or d.face_uvs.shape == (d.faces.shape[0], 3, 2)),
        ("shape_names", d.shape_names is None or len(d.shape_names) == d.shapedirs.shape[2]),
        ("joint_frames", d.joint_frames is None or d.joint_frames.shape == (16, 3, 3)),
    ]
    for field, ok in checks:
        if not ok:
            value = getattr(d, field)
            shape = getattr(value, "shape", None) if value is not None else None
            raise ValueError(f"hand model {d.name!r} ({d.side}): field {field!r} has a wrong "
                             f"shape {shape} for {v} vertices")
    if d.faces.min() < 0 or d.faces.max() >= v:
        raise ValueError(f"hand model {d.name!r}: face indices outside [0, {v})")
    if d.tip_vertex_ids.min() < 0 or d.tip_vertex_ids.max() >= v:
        raise ValueError(f"hand model {d.name!r}: tip vertex ids outside [0, {v})")
    if not np.allclose(d.weights.sum(1), 1.0, atol=1e-4) or d.weights.min() < -1e-6:
        raise ValueError(f"hand model {d.name!r}: skinning weights must be >= 0 and sum to 1 per vertex")
    for field in ("v_template", "shapedirs", "j_regressor", "weights"):
        if not np.isfinite(getattr(d, field)).all():
            raise ValueError(f"hand model {d.name!r}: field {field!r} has NaN or infinite values")
