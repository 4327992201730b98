"""A contact sheet of the hand model: both sides x named poses x shapes, for eyeballing.

``hand-mesh hand-model sheet --out sheet.png`` renders it. Each cell shows one hand, palm
towards the camera, fingers up, turned ``yaw_deg`` about the vertical axis, at a fixed
distance (so shape sizes compare across cells); the left hand is the mirrored view.

A picture drawn with the hand model and :mod:`hand_mesh_core.viz`, so it sits above both
(in ``bench/``, not in ``hand_model/``, which would then import ``viz``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.hand_model.lbs import axis_angle_to_matrix, matrix_to_axis_angle
from hand_mesh_core.hand_model.mirror import mirror_pose
from hand_mesh_core.hand_model.model import HandModel
from hand_mesh_core.hand_model.poses import named_pose
from hand_mesh_core.viz import HAND_COLORS, contact_sheet, draw_skeleton, render_mesh

SHEET_POSES = ("flat", "fist", "point", "pinch", "spread", "thumbs_up")

#: name -> {coefficient: value}; the open model's coefficients (see shape_space.py).
SHEET_SHAPES: dict[str, dict[str, float]] = {
    "mean": {},
    "child": {"size": -5.0, "finger_length": -1.5, "palm_width": 1.5, "palm_thickness": 1.0},
    "large": {"size": 2.0, "finger_girth": 2.0, "palm_width": 1.0, "thumb_length": 1.0},
}


def _betas(shape: dict[str, float], num_betas: int, names: tuple[str, ...] | None) -> torch.Tensor:
    betas = torch.zeros(1, num_betas, dtype=torch.float64)
    for key, value in shape.items():
        if names is None or key not in names:
            raise ValueError(f"shape coefficient {key!r} unknown to this model (names: {names})")
        betas[0, names.index(key)] = value
    return betas


def view_orient(yaw_deg: float = 25.0, pitch_deg: float = -15.0) -> torch.Tensor:
    """``global_orient [1, 3]`` (float64) showing a right hand palm-on, fingers up.

    Canonical -> camera: fingers (-x) to image up (-y), palm normal (-y) towards the camera
    (-z), thumb (+z) to image right (+x); then ``yaw`` about the camera's y and ``pitch``
    about its x axis.
    """
    base = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    yaw = axis_angle_to_matrix(torch.tensor([0.0, math.radians(yaw_deg), 0.0], dtype=torch.float64))
    pitch = axis_angle_to_matrix(torch.tensor([math.radians(pitch_deg), 0.0, 0.0], dtype=torch.float64))
    return matrix_to_axis_angle(pitch @ yaw @ base)[None]


def render_model_sheet(backend: str = "open", model_path=None, poses=SHEET_POSES,
                       shapes: dict[str, dict[str, float]] | None = None, cell: int = 220,
                       distance: float = 0.30, yaw_deg: float = -20.0) -> np.ndarray:
    """Render both hands in ``poses`` x ``shapes``; returns an RGB ``uint8`` sheet.

    Rows: (side, shape); columns: poses. Cells are ``cell`` pixels square, 60-degree field of
    view, the palm centre ``distance`` metres in front of the camera.
    """
    shapes = SHEET_SHAPES if shapes is None else shapes
    models = HandModel.pair(backend, model_path)
    K = intrinsics_from_fov(cell, cell)
    images, labels = [], []
    for side, model in models.items():
        model = model.double()
        go = view_orient(yaw_deg)
        if side == "left":  # the mirror image of the right hand's view
            go = mirror_pose(go)
        for shape_name, shape in shapes.items():
            betas = _betas(shape, model.num_betas, model.shape_names)
            for pose_name in poses:
                pose = named_pose(pose_name, side, model.joint_frames)
                with torch.no_grad():
                    rest = model(betas=betas, global_orient=go)
                    centre = rest.joints[0, [0, 1, 4, 7, 10]].mean(0)
                    transl = torch.tensor([[0.0, 0.0, distance]], dtype=torch.float64) - centre
                    out = model(betas=betas, global_orient=go, hand_pose=pose, transl=transl)
                verts = out.vertices[0].numpy()
                img = render_mesh(verts, model.faces.numpy(), K, (cell, cell), HAND_COLORS[side],
                                  image=np.full((cell, cell, 3), 245, np.uint8))
                draw_skeleton(img, project_np(out.keypoints[0].numpy(), K), thickness=1)
                images.append(img)
                labels.append(f"{side} {shape_name} {pose_name}")
    return contact_sheet(images, cols=len(poses), labels=labels)

