"""The training objective: the weighted sum of every loss term, weights from the config.

Terms (``loss`` section of the config, :mod:`hand_mesh_core.network.config`; a term whose
weight is 0, or whose labels are absent from the batch, is skipped and reported as 0):

================ ====================================================== ===================
name             what                                                   function
================ ====================================================== ===================
centre           centre heatmap focal loss                              losses.heatmap
handedness       handedness focal loss (windows of unknown sides masked) losses.heatmap
side             left/right cross-entropy at each labelled centre (ours) losses.heatmap
keypoints_2d     reprojection of the model's 21 keypoints (network px)  losses.keypoints
bone_direction   unit 2D bone directions                                losses.keypoints
pose_prior       joint-limit hinge                                      losses.priors
shape_prior      shape regulariser                                      losses.priors
joints_3d        wrist-relative 3D keypoints, L1 (m)                    losses.keypoints
wrist_3d         absolute 3D wrist (metric translation), L1 (m)         losses.keypoints
vertices_3d      wrist-relative vertices, L1 (m)                        losses.keypoints
photometric      SH-shaded rendering vs image inside silhouette & mask  losses.rendering
silhouette       rendered soft silhouette vs hand mask                  losses.rendering
keypoint_heatmap keypoint heatmap focal loss (ours; networks with the  losses.heatmap
                 keypoint head only)
================ ====================================================== ===================

Per-hand terms read the network's parameter head at each labelled hand's centre cell
(:class:`~hand_mesh_core.training.targets.Targets`), take the set of the labelled side (the
predicted side where the label has none), and place the mesh exactly as decoding does
(:func:`~hand_mesh_core.network.decoding.wrist_from_prediction`,
:func:`~hand_mesh_core.network.decoding.pose_hands`), so training supervises what the
predictor outputs. Rendering terms render every hand of an image into one
``render_size``-square image with the network input's intrinsics scaled to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from hand_mesh_core.camera import project
from hand_mesh_core.losses.heatmap import (
    centre_focal_loss,
    handedness_focal_loss,
    keypoint_heatmap_focal_loss,
    side_cross_entropy,
)
from hand_mesh_core.losses.keypoints import (
    bone_direction_loss,
    joint_3d_loss,
    keypoint_reprojection_loss,
    vertex_3d_loss,
)
from hand_mesh_core.losses.priors import pose_prior, shape_prior
from hand_mesh_core.network.decoding import PosedHands, handedness_at, pose_hands, wrist_from_prediction
from hand_mesh_core.network.heads import split_parameters
from hand_mesh_core.training.targets import Targets, keypoint_heatmap_targets

#: Loss terms in reporting order.
TERMS = (
    "centre", "handedness", "side", "keypoints_2d", "bone_direction", "pose_prior", "shape_prior",
    "joints_3d", "wrist_3d", "vertices_3d", "photometric", "silhouette", "keypoint_heatmap",
)  # fmt: skip


@dataclasses.dataclass
class LossOutput:
    """``total`` (scalar, differentiable), ``terms`` (unweighted value of each term of
    :data:`TERMS`, detached) and the posed hands the per-hand terms were computed on."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    hands: PosedHands | None


class SingleStageObjective(nn.Module):
    """Weighted total loss of :class:`~hand_mesh_core.network.model.SingleStageNet`.

    Args:
        config: the network config (its ``loss`` weights and ``objective.render_size``).
        hand_models: ``{"left": HandModel, "right": HandModel}`` (held as submodules so
            ``.to(device)`` moves them).

    ``forward(net, outputs, targets, images=None)``: ``outputs`` of ``net(images)``,
    :class:`Targets` on the same device, ``images`` ``[B, 3, S, S]`` in ``[0, 1]`` (needed
    only for the photometric term). Returns :class:`LossOutput`. Raises ``ValueError`` when
    the maps and targets disagree in shape.
    """

    def __init__(self, config, hand_models: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.weights = {k: float(v) for k, v in config.loss.items()}
        self.render_size = int(config.objective.render_size)
        self.hand_models = nn.ModuleDict(dict(hand_models))
        self._renderer = None

    def forward(self, net: nn.Module, outputs: Mapping[str, torch.Tensor], targets: Targets,
                images: torch.Tensor | None = None) -> LossOutput:
        if outputs["centre"].shape != targets.centre.shape:
            raise ValueError(f"centre map {tuple(outputs['centre'].shape)} vs target {tuple(targets.centre.shape)}")
        w = self.weights
        zero = outputs["centre"].new_zeros(())
        terms = {name: zero for name in TERMS}
        terms["centre"] = centre_focal_loss(outputs["centre"], targets.centre)
        terms["handedness"] = handedness_focal_loss(outputs["handedness"], targets.handedness, targets.handedness_mask)
        if "keypoint_heatmaps" in outputs and w.get("keypoint_heatmap", 0.0) > 0:
            B, _, h, wd = outputs["keypoint_heatmaps"].shape
            heat, mask = keypoint_heatmap_targets(targets.keypoints_2d, targets.keypoint_weight, targets.batch_index,
                                                  B, (h, wd), net.stride)
            terms["keypoint_heatmap"] = keypoint_heatmap_focal_loss(outputs["keypoint_heatmaps"], heat, mask)
        hands = None
        b, cells = targets.batch_index, targets.cells
        if b.numel():
            terms["side"] = side_cross_entropy(outputs["handedness"], b, cells, targets.is_right, targets.side_known)
            predicted_right, _ = handedness_at(outputs["handedness"].detach(), b, cells)
            is_right = torch.where(targets.side_known, targets.is_right, predicted_right)
            params = split_parameters(net.parameters_at(outputs["features"], b, cells).float(), is_right)
            K_hand = targets.K[b]
            wrist = wrist_from_prediction(cells, params["offset"], params["depth"], K_hand, net.stride, net.depth_ref)
            need_mesh = (w.get("photometric", 0.0) > 0 or w.get("silhouette", 0.0) > 0
                         or (w.get("vertices_3d", 0.0) > 0 and bool(targets.has_vertices.any())))
            hands = pose_hands(self.hand_models, is_right, params["global_orient"], params["hand_pose"],
                               params["betas"], wrist, compute_vertices=need_mesh)
            kp2d = project(hands.keypoints, K_hand)
            terms["keypoints_2d"] = keypoint_reprojection_loss(kp2d, targets.keypoints_2d, targets.keypoint_weight)
            terms["bone_direction"] = bone_direction_loss(kp2d, targets.keypoints_2d, targets.keypoint_weight)
            terms["pose_prior"] = pose_prior(self.hand_models, is_right, params["hand_pose"])
            terms["shape_prior"] = shape_prior(params["betas"])
            if bool(targets.has_3d.any()):
                has = targets.has_3d.float()
                terms["joints_3d"] = joint_3d_loss(hands.keypoints, targets.keypoints_3d, has, root_index=0)
                terms["wrist_3d"] = joint_3d_loss(hands.keypoints[:, :1], targets.keypoints_3d[:, :1], has, None)
            if hands.vertices is not None and targets.vertices is not None and bool(targets.has_vertices.any()):
                terms["vertices_3d"] = vertex_3d_loss(
                    hands.vertices, targets.vertices, targets.has_vertices.float(),
                    hands.joints[:, 0], targets.vertices_root,
                )
            if w.get("photometric", 0.0) > 0 or w.get("silhouette", 0.0) > 0:
                self._rendering_terms(terms, net, outputs, targets, hands, is_right, images)
        total = sum(w.get(name, 0.0) * value for name, value in terms.items() if w.get(name, 0.0) > 0)
        if not isinstance(total, torch.Tensor):
            total = zero
        return LossOutput(total=total, terms={k: v.detach() for k, v in terms.items()}, hands=hands)

    def _rendering_terms(self, terms, net, outputs, targets, hands, is_right, images) -> None:
        from hand_mesh_core.losses.rendering import photometric_loss, silhouette_loss
        from hand_mesh_core.render import Renderer

        B = targets.centre.shape[0]
        size = self.render_size
        scale = size / float(net.input_size)
        if self._renderer is None:
            self._renderer = Renderer(size)
        K_render = torch.diag(torch.tensor([scale, scale, 1.0], device=targets.K.device)) @ targets.K
        faces = torch.stack([
            self.hand_models["right" if r else "left"].faces for r in is_right.tolist()
        ])
        albedo, sh = (None, None)
        want_rgb = self.weights.get("photometric", 0.0) > 0 and images is not None
        if want_rgb:
            albedo, sh = net.appearance(outputs["features"], targets.batch_index, targets.cells)
        out = self._renderer.render(hands.vertices, faces, K_render, albedo.float() if want_rgb else None,
                                    sh.float() if want_rgb else None, mesh_to_image=targets.batch_index,
                                    num_images=B)
        mask = F.interpolate(targets.hand_mask[:, None], size=(size, size), mode="area")[:, 0].clamp(0, 1)
        valid = targets.mask_valid.float()[:, None, None].expand(B, size, size)
        if self.weights.get("silhouette", 0.0) > 0 and bool(targets.mask_valid.any()):
            terms["silhouette"] = silhouette_loss(out.silhouette, mask, valid)
        if want_rgb and out.rgb is not None:
            small = F.interpolate(images.float(), size=(size, size), mode="area").permute(0, 2, 3, 1)
            # where the image has no hand mask, only the rendered silhouette selects pixels,
            # and its gradient is stopped so colour alone is fitted there
            with_mask = photometric_loss(out.rgb, small, out.silhouette, mask * valid)
            without = photometric_loss(out.rgb, small, out.silhouette, 1.0 - valid, detach_silhouette=True)
            terms["photometric"] = with_mask + without

