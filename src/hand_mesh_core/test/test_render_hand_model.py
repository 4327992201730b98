"""The renderer on the project's hand model: silhouette and projected keypoints agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.hand_model import HandModel
from hand_mesh_core.render import Renderer, vertex_normals

TIPS = [4, 8, 12, 16, 20]  # MediaPipe order: fingertips are surface vertices, the rest joints


@pytest.mark.parametrize("side", ["right", "left"])
def test_silhouette_covers_projected_keypoints_and_normals_point_outwards(side):
    model = HandModel(side=side)
    width, height = 128, 96
    K_np = intrinsics_from_fov(width, height)
    g = torch.Generator().manual_seed(7)
    # palm towards the camera (MANO's palm faces -y: +90 deg about x), flat and curled poses
    global_orient = torch.tensor([[math.pi / 2, 0.0, 0.0], [math.pi / 2, 0.3, -0.2]])
    hand_pose = torch.cat([torch.zeros(1, 45), 0.25 * torch.randn(1, 45, generator=g)])
    transl = torch.tensor([[-0.02, 0.01, 0.45], [0.03, -0.02, 0.6]])
    out = model(global_orient=global_orient, hand_pose=hand_pose, transl=transl)
    faces = model.faces
    rendered = Renderer((width, height)).render(out.vertices, faces, torch.tensor(K_np, dtype=torch.float32))
    for b in range(2):
        kp = out.keypoints[b].detach().numpy().astype(np.float64)
        uv = project_np(kp, K_np)
        assert (uv[:, 0] > 0).all() and (uv[:, 0] < width).all() and (uv[:, 1] > 0).all() and (uv[:, 1] < height).all()
        cols, rows = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
        sil = rendered.silhouette[b].detach().numpy()[rows, cols]
        joints = [i for i in range(21) if i not in TIPS]
        assert sil[joints].min() > 0.95, sil
        assert sil[TIPS].min() > 0.4, sil  # on the surface, possibly on the contour
        # the surface seen at an interior joint's pixel lies in front of the joint
        depth = rendered.depth[b].detach().numpy()[rows, cols]
        assert (depth[joints] > 0).all() and (depth[joints] < kp[joints, 2]).all()
    # faces wound counter-clockwise from outside on both sides: normals point outwards
    normals = vertex_normals(out.vertices, faces)
    outward = ((normals * (out.vertices - out.vertices.mean(1, keepdim=True))).sum(-1) > 0).float().mean()
    assert float(outward) > 0.8
