"""Decode-time refinement of each hand to the network's own keypoint heatmaps (ours).

Networks built with the keypoint heatmap head (``model.heads.keypoint_heatmaps``,
:mod:`hand_mesh_core.network.heads`) predict, besides the hand-model parameters at each centre, a dense heatmap
per keypoint. The parameters reach the image only through the hand model and the
projection, and on real photos their 2D keypoints are the weak part; a heatmap peak is a
direct 2D measurement (the two-stage backend's landmarks play the same role). Decoding then

1. **reads** each hand's keypoints from the heatmaps (:func:`read_keypoints`): for keypoint
   ``j`` of a hand, the highest cell of channel ``j`` within ``window`` x the hand's size
   of the hand model's projected keypoint ``j`` (so the peak of a neighbouring hand is not
   taken), refined to sub-cell precision by a parabola through the peak and its two
   neighbours along each axis on the logits (the log of a Gaussian is a parabola; as in
   DARK, Zhang et al. CVPR 2020, along each axis); keypoints whose peak score
   (sigmoid) is below ``min_score`` keep the projection;
2. **fits** the hand model to those 2D keypoints and to the network's own wrist-centred 3D
   keypoints (its shape and pose prior) with the two-stage backend's Levenberg-Marquardt
   fitter (:class:`~hand_mesh_core.two_stage.fitting.HandFitter`, warm-started from the
   network's parameters, ``iterations`` at most, initial damping ``damping``, one batch per
   image), and poses the refined hands again
   (:func:`~hand_mesh_core.network.decoding.pose_hands`) with the fitted wrist position,
   so the mesh, 3D and 2D keypoints agree.

Not in Ren, Zhu, Zhang (CVIU 2023): their decoding takes the parameters as predicted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch

from hand_mesh_core.camera import project
from hand_mesh_core.network.config import DEFAULTS

_DEFAULTS = DEFAULTS["decoding"]["keypoint_refinement"]

#: Fewest cells the search window reaches from the projected keypoint.
MIN_WINDOW_CELLS = 2.0


@dataclasses.dataclass(frozen=True)
class RefinementSettings:
    """``decoding.keypoint_refinement`` of a network config.

    Attributes:
        enabled: refine at all (False: the parameters as predicted).
        min_score: smallest heatmap peak (sigmoid, ``[0, 1]``) taken as an observation.
            Default 0: on ``ge_realworld`` (step-4061 weights, 12 iterations) the peaks of
            every score are better 2D keypoints than the hand model's projection (raw peaks
            PCK@0.2 0.768 against 0.683), and the fit to all of them gives PCK@0.2 0.783,
            wrist depth error 11.0 % against 0.715, 17.2 % with 0.2 (most peaks of this
            focal-loss head score under 0.5).
        window: search radius around the projected keypoint, as a fraction of the hand's
            size (longer side of its projected keypoints' box), at least
            :data:`MIN_WINDOW_CELLS` cells.
        iterations: most Levenberg-Marquardt iterations of the fit (its cost grows with
            them; weights files written before this setting existed get this default).
        damping: the fit's initial Marquardt damping ``mu`` (relative to ``diag(J^T J)``,
            :class:`~hand_mesh_core.two_stage.fitting.FitSettings`). The network's
            parameters are a good start, and the undamped first steps overshoot into the
            joint limits (the hinge is flat inside them), which costs iterations.
            Measured on ``ge_realworld`` (shipped step-4061+3798 weights), PCK@0.2 /
            RR-MPJPE mm / wrist depth error %: damping 1e-4 (the two-stage fit's) with 8
            iterations 0.809 / 39.9 / 10.4; damping 0.01 with 4 / **5** / 6 iterations
            0.805 / 40.4 / 10.8, **0.808 / 40.0 / 10.3**, 0.810 / 39.9 / 10.0; damping 0.1
            with 4 / 6 / 8 iterations 0.811 / 41.4 / 10.9, 0.811 / 40.7 / 10.1, 0.810 /
            40.5 / 9.9. Defaults: damping 0.01, 5 iterations, the figures of 8 at 1e-4 in
            6 model evaluations instead of 9 (the refiner on 3 hands: 16.8 -> 11.9 ms,
            2-core CPU under load).
            Earlier (step-4061 weights, damping 1e-4): 4 / 8 / 12 / 24 iterations gave
            PCK@0.2 0.736 / 0.782 / 0.783 / 0.786, depth error 17.3 / 12.1 / 11.0 / 11.1 %.
    """

    # the defaults are the network config's (one place: network/config.py DEFAULTS)
    enabled: bool = bool(_DEFAULTS["enabled"])
    min_score: float = float(_DEFAULTS["min_score"])
    window: float = float(_DEFAULTS["window"])
    iterations: int = int(_DEFAULTS["iterations"])
    damping: float = float(_DEFAULTS["damping"])

    @classmethod
    def from_config(cls, cfg) -> RefinementSettings:
        """From a checked network config's ``decoding.keypoint_refinement`` section
        (:func:`~hand_mesh_core.network.config.load_config`: keys a file lacks have the defaults)."""
        r = cfg.decoding.keypoint_refinement
        return cls(enabled=bool(r.enabled), min_score=float(r.min_score), window=float(r.window),
                   iterations=int(r.iterations), damping=float(r.damping))


def read_keypoints(
    heatmap_logits: torch.Tensor,
    batch_index: torch.Tensor,
    guess: torch.Tensor,
    window: float,
    stride: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hand's 21 keypoints read from the keypoint heatmaps near a guess.

    Args:
        heatmap_logits: ``[B, 21, h, w]`` logits of the keypoint heatmap head.
        batch_index: ``[N]`` long, image of each hand.
        guess: ``[N, 21, 2]`` network-input pixels (the projected hand-model keypoints).
        window: search radius as a fraction of each hand's size (see
            :class:`RefinementSettings`).
        stride: network-input pixels per map cell.

    Returns:
        ``keypoints`` ``[N, 21, 2]`` network-input pixels (cell middles at ``(col + 0.5)
        stride``, plus the sub-cell parabola offset, at most half a cell) and ``score``
        ``[N, 21]`` in ``[0, 1]`` (sigmoid of the peak logit). A keypoint whose window holds
        no cell of the map (a guess far outside it) keeps the guess, with score 0.
        Raises ``ValueError`` for mismatched shapes.
    """
    if heatmap_logits.ndim != 4 or heatmap_logits.shape[1] != 21:
        raise ValueError(f"keypoint heatmaps must be [B, 21, h, w], got {tuple(heatmap_logits.shape)}")
    n = batch_index.shape[0]
    if guess.shape != (n, 21, 2):
        raise ValueError(f"guess must be [{n}, 21, 2], got {tuple(guess.shape)}")
    _, _, h, w = heatmap_logits.shape
    if n == 0:
        return guess.clone(), guess.new_zeros(0, 21)
    cells = guess.float() / stride - 0.5  # cell coordinates of the guess (cell middles at integers)
    size = (cells.amax(dim=1) - cells.amin(dim=1)).amax(dim=1)  # [N]
    radius = (window * size).clamp(min=MIN_WINDOW_CELLS)
    # Only the square of side 2 * reach + 1 cells around a guess can hold its disc, so the
    # search reads that square (indices clamped to the map: a clamped cell repeats one
    # already read) rather than the whole map, and its cost stops growing with the map
    # size for every hand and keypoint (8 hands: 7 ms -> under 1 ms of a 2-core CPU).
    reach = int(torch.ceil(radius.max()).item())
    device = heatmap_logits.device
    centre_cell = torch.round(cells).long()  # [N, 21, 2] (col, row)

    def lines(k: int, length: int) -> torch.Tensor:  # [N, 21, L] rows (k=1) or columns (k=0) read
        if 2 * reach + 1 >= length:  # the window spans the map: read all of it
            return torch.arange(length, device=device).expand(n, 21, length)
        span = torch.arange(-reach, reach + 1, device=device)
        return (centre_cell[..., k, None] + span).clamp(0, length - 1)

    rows, cols = lines(1, h), lines(0, w)
    image = batch_index.view(n, 1, 1, 1)
    channel = torch.arange(21, device=device).view(1, 21, 1, 1)
    local = heatmap_logits[image, channel, rows[..., :, None], cols[..., None, :]].float()  # [N, 21, R, C]
    d2 = (rows[..., :, None] - cells[..., 1, None, None]) ** 2 + (cols[..., None, :] - cells[..., 0, None, None]) ** 2
    near = d2 <= (radius[:, None, None, None] ** 2)
    width = cols.shape[-1]
    best, flat = local.masked_fill(~near, -torch.inf).flatten(2).max(dim=2)
    row = rows.gather(2, (flat // width)[..., None])[..., 0]
    col = cols.gather(2, (flat % width)[..., None])[..., 0]

    def at(dr: int, dc: int) -> torch.Tensor:  # logits at an offset, edge cells repeated (replicate padding)
        r = (row + dr).clamp(0, h - 1)
        c = (col + dc).clamp(0, w - 1)
        return heatmap_logits[batch_index[:, None], channel[0, :, 0, 0], r, c].float()

    centre = at(0, 0)
    offsets = []
    for lo, hi in ((at(0, -1), at(0, 1)), (at(-1, 0), at(1, 0))):
        curvature = lo - 2.0 * centre + hi
        step = torch.where(curvature < 0, 0.5 * (lo - hi) / curvature.clamp(max=-1e-6), torch.zeros_like(centre))
        offsets.append(step.clamp(-0.5, 0.5))
    u = (col.float() + 0.5 + offsets[0]) * stride
    v = (row.float() + 0.5 + offsets[1]) * stride
    found = torch.isfinite(best)  # False: no cell of the map lies within the window
    score = torch.where(found, torch.sigmoid(best), torch.zeros_like(best))
    keypoints = torch.where(found[..., None], torch.stack([u, v], dim=-1), guess.float())
    return keypoints, score


class KeypointRefiner:
    """Refines decoded hands to the keypoint heatmaps (module docstring).

    Args:
        hand_models: ``{"left", "right"}`` hand models of the decoding.
        settings: :class:`RefinementSettings`.
        stride: network-input pixels per map cell.

    ``refiner(hands, heatmap_logits, K_net)``: ``hands`` the
    :class:`~hand_mesh_core.network.decoding.DecodedHands` of a batch, ``heatmap_logits`` ``[B, 21, h, w]``,
    ``K_net`` ``[B, 3, 3]`` intrinsics of the network input; returns new
    :class:`~hand_mesh_core.network.decoding.DecodedHands` (same hands, scores and sides; refined parameters,
    translation, wrist, mesh and keypoints), or ``hands`` unchanged when disabled or empty.
    """

    def __init__(self, hand_models: Mapping[str, torch.nn.Module], settings: RefinementSettings, stride: int) -> None:
        from hand_mesh_core.two_stage.fitting import FitSettings, HandFitter

        self.settings = settings
        self.stride = int(stride)
        self.hand_models = hand_models
        # the network's 3D keypoints are already in the camera frame (no ray rotation);
        # warm-started from its parameters, as the two-stage backend does in video mode
        self.fitter = HandFitter(dict(hand_models), FitSettings(perspective_world=False,
                                                                max_iterations_warm=settings.iterations,
                                                                initial_damping=settings.damping))

    def __call__(self, hands, heatmap_logits: torch.Tensor, K_net: torch.Tensor):
        from hand_mesh_core.network.decoding import pose_hands

        if not self.settings.enabled or len(hands) == 0:
            return hands
        b = hands.batch_index
        observed, score = read_keypoints(heatmap_logits, b, hands.keypoints_2d_net, self.settings.window, self.stride)
        target_2d = torch.where((score >= self.settings.min_score)[..., None], observed, hands.keypoints_2d_net)
        params = torch.cat([hands.global_orient, hands.hand_pose, hands.betas, hands.transl], dim=1)
        host = {"uv": target_2d.cpu().double().numpy(), "world": hands.keypoints_3d.cpu().double().numpy(),
                "x": params.cpu().double().numpy(), "b": b.cpu().numpy(), "K": K_net.cpu().double().numpy(),
                "right": hands.is_right.cpu().numpy()}
        fitted = np.zeros_like(host["x"])
        wrist = np.zeros((len(hands), 3))
        for image in np.unique(host["b"]):
            idx = np.nonzero(host["b"] == image)[0]
            sides = ["right" if host["right"][i] else "left" for i in idx]
            fit = self.fitter.fit(sides, host["uv"][idx], host["world"][idx], host["K"][image],
                                  init=[host["x"][i] for i in idx], compute_vertices=False)
            fitted[idx] = fit.params
            wrist[idx] = fit.keypoints_3d[:, 0]
        t = lambda a: torch.as_tensor(a, dtype=hands.global_orient.dtype, device=hands.global_orient.device)  # noqa: E731
        go, pose, betas = t(fitted[:, 0:3]), t(fitted[:, 3:48]), t(fitted[:, 48:58])
        posed = pose_hands(self.hand_models, hands.is_right, go, pose, betas, t(wrist))
        K_hand = K_net[b].to(posed.keypoints.dtype)
        return dataclasses.replace(
            hands, global_orient=go, hand_pose=pose, betas=betas, transl=posed.transl, wrist=t(wrist),
            vertices=posed.vertices, joints=posed.joints, keypoints_3d=posed.keypoints,
            keypoints_2d_net=project(posed.keypoints, K_hand),
        )
