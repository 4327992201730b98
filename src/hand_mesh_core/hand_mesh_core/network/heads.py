"""Heads of the single-stage network, all reading the one shared stride-4 map.

Source: Ren, Zhu, Zhang (CVIU 2023) and their public code: every head is a 3x3 conv +
ReLU + 1x1 conv on the shared map; centre heatmap (1 channel), handedness (2 channels:
left, right), hand-model parameters (2 x 61: a left and a right set), per-vertex albedo
(added to a mean skin colour) and 27 spherical-harmonic lighting coefficients.

Our choice, documented: the per-hand heads (parameters, albedo, lighting) are only ever
*read* at one location per hand (the peak at run time, the labelled centre in training),
so :class:`PeakHead` evaluates the same 3x3-conv + ReLU + 1x1-conv only at those
locations, from the 3x3 neighbourhood of each (zero padding at the border, exactly like
the dense convolution). The result equals gathering a dense head's output at the peak
(:meth:`PeakHead.dense` computes the dense map, the tests check both agree) while the cost
no longer depends on the map size and the per-vertex albedo (V x 3 channels) is affordable.
Albedo and lighting are therefore per hand, gathered at the centre like the parameters.

Ours, optional (``model.heads.keypoint_heatmaps``): a dense 21-channel keypoint heatmap
head (the same 3x3 conv + ReLU + 1x1 conv), one channel per keypoint in the hand model's
21-keypoint order, as the joint heatmaps of CenterNet's pose head (Zhou et al. 2019,
"Objects as Points", ``hm_hp``). It gives the shared map dense 2D supervision and decoding
a 2D observation of every keypoint to refine the hand model against
(:mod:`hand_mesh_core.single_stage.keypoint_refinement`). Not in Ren, Zhu, Zhang (2023).

Parameter layout of one set (61 numbers), see :data:`PARAM_SLICES`:
``global_orient`` 3 (axis-angle, radians, camera optical frame), ``hand_pose`` 45
(axis-angle, radians, MANO order, relative to parents), ``betas`` 10, ``offset`` 2 (image
offset of the wrist from the centre cell's middle, in output-map cells, u then v),
``depth`` 1 (log depth term, see :mod:`hand_mesh_core.network.decoding`). Channels
``0:61`` are the left set, ``61:122`` the right set (order of :data:`SIDES`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hand_mesh_core.render.shading import uniform_sh

#: Hand sides in channel order of the handedness map and of the two parameter sets.
SIDES = ("left", "right")

#: Slices of one 61-number parameter set.
PARAM_SLICES = {
    "global_orient": slice(0, 3),
    "hand_pose": slice(3, 48),
    "betas": slice(48, 58),
    "offset": slice(58, 60),
    "depth": slice(60, 61),
}
PARAMS_PER_SIDE = 61
NUM_SH_COEFFS = 27  # 9 second-order spherical-harmonic coefficients x RGB
NUM_KEYPOINTS = 21  # channels of the optional keypoint heatmap head

#: Mean skin albedo (linear RGB in [0, 1]) that the albedo head's residual is added to;
#: a mid-tone skin colour, the average of the FreiHAND-style skin patches used by the
#: authors' texture prior is not published, so this is our documented choice.
MEAN_SKIN_RGB = (0.75, 0.55, 0.45)

#: Focal-loss prior probability of a positive at initialisation (CenterNet, Zhou et al. 2019;
#: RetinaNet, Lin et al. 2017): heatmap bias = -log((1 - p) / p).
HEATMAP_PRIOR = 0.1


class DenseHead(nn.Module):
    """3x3 conv + ReLU + 1x1 conv over the whole map: ``[B, C, h, w] -> [B, out, h, w]``.

    ``bias`` initialises the last layer's bias (e.g. the focal-loss prior for heatmaps).
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, bias: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, 1, 1)
        self.conv2 = nn.Conv2d(hidden, out_channels, 1)
        nn.init.constant_(self.conv2.bias, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class PeakHead(nn.Module):
    """A :class:`DenseHead` evaluated only at chosen cells of the map.

    Args:
        in_channels, hidden, out_channels: as :class:`DenseHead`.
        init_std: standard deviation of the last layer's weights (its bias starts at 0), small
            so that an untrained head outputs values near 0 (flat hand, mean skin colour).

    ``forward(features, batch_index, cells)``: ``features`` ``[B, C, h, w]``,
    ``batch_index`` ``[N]`` long, ``cells`` ``[N, 2]`` long ``(row, col)`` in output-map cells;
    returns ``[N, out_channels]`` (``[0, out_channels]`` when ``N == 0``). Raises
    ``ValueError`` for a cell outside the map or mismatched shapes.
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, init_std: float = 1e-3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, 1, 1)
        self.conv2 = nn.Conv2d(hidden, out_channels, 1)
        nn.init.normal_(self.conv2.weight, std=init_std)
        nn.init.zeros_(self.conv2.bias)

    def dense(self, features: torch.Tensor) -> torch.Tensor:
        """The head over every cell, ``[B, out, h, w]`` (for tests and visualisation)."""
        return self.conv2(F.relu(self.conv1(features)))

    def forward(self, features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        patches = gather_patches(features, batch_index, cells, size=3)
        h = F.relu(F.conv2d(patches, self.conv1.weight, self.conv1.bias))
        return F.conv2d(h, self.conv2.weight, self.conv2.bias).flatten(1)


def gather_patches(features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Square ``size x size`` neighbourhoods of ``features`` centred on ``cells``.

    Args:
        features: ``[B, C, h, w]``.
        batch_index: ``[N]`` long, image of each cell.
        cells: ``[N, 2]`` long ``(row, col)``.
        size: odd patch size; outside the map the patch reads zeros (conv zero padding).

    Returns:
        ``[N, C, size, size]``. Raises ``ValueError`` for bad shapes or out-of-map cells.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be [B, C, h, w], got {tuple(features.shape)}")
    if size % 2 != 1:
        raise ValueError(f"patch size must be odd, got {size}")
    if cells.ndim != 2 or cells.shape[1] != 2 or batch_index.shape != cells.shape[:1]:
        raise ValueError(f"cells must be [N, 2] with batch_index [N], got {tuple(cells.shape)}, {tuple(batch_index.shape)}")
    B, C, h, w = features.shape
    if cells.numel():
        bad = (cells[:, 0] < 0) | (cells[:, 0] >= h) | (cells[:, 1] < 0) | (cells[:, 1] >= w)
        bad |= (batch_index < 0) | (batch_index >= B)
        if bool(bad.any()):
            raise ValueError(f"cell or batch index outside the map [{B}, {h}, {w}]")
    r = size // 2
    padded = F.pad(features, (r, r, r, r))
    offs = torch.arange(size, device=features.device)
    rows = (cells[:, 0, None] + offs)[:, :, None]  # [N, size, 1]
    cols = (cells[:, 1, None] + offs)[:, None, :]  # [N, 1, size]
    patch = padded[batch_index[:, None, None], :, rows, cols]  # [N, size, size, C]
    return patch.permute(0, 3, 1, 2)


class SingleStageHeads(nn.Module):
    """All heads of the network on the shared map.

    Args:
        in_channels: channels of the shared map.
        hidden: channels of every head's 3x3 conv (256 in the paper).
        num_vertices: vertices of the hand model whose per-vertex albedo is predicted;
            ``0`` disables the appearance head (albedo + lighting).

    Dense outputs (``forward``): ``centre`` logits ``[B, 1, h, w]`` and ``handedness``
    logits ``[B, 2, h, w]`` (channel 0 left, 1 right).
    Per-hand outputs: :meth:`parameters` ``[N, 122]`` and :meth:`appearance`.
    """

    def __init__(self, in_channels: int, hidden: int = 64, num_vertices: int = 0,
                 keypoint_heatmaps: bool = False) -> None:
        super().__init__()
        prior = -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR)
        self.centre = DenseHead(in_channels, hidden, 1, bias=prior)
        self.handedness = DenseHead(in_channels, hidden, 2, bias=prior)
        self.keypoints = DenseHead(in_channels, hidden, NUM_KEYPOINTS, bias=prior) if keypoint_heatmaps else None
        self.params = PeakHead(in_channels, hidden, 2 * PARAMS_PER_SIDE)
        self.num_vertices = int(num_vertices)
        self.appearance_head = (
            PeakHead(in_channels, hidden, 3 * self.num_vertices + NUM_SH_COEFFS) if self.num_vertices > 0 else None
        )
        mean = torch.tensor(MEAN_SKIN_RGB)
        self.register_buffer("albedo_logit_mean", torch.log(mean / (1 - mean)), persistent=False)
        self.register_buffer("sh_base", uniform_sh(1.0).reshape(NUM_SH_COEFFS), persistent=False)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"centre": self.centre(features), "handedness": self.handedness(features)}
        if self.keypoints is not None:
            out["keypoint_heatmaps"] = self.keypoints(features)
        return out

    def parameters_at(self, features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Both parameter sets at the given cells, ``[N, 122]`` (left ``0:61``, right ``61:122``)."""
        return self.params(features, batch_index, cells)

    def appearance(
        self, features: torch.Tensor, batch_index: torch.Tensor, cells: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-hand albedo and lighting at the given cells.

        Returns ``albedo`` ``[N, V, 3]`` in ``[0, 1]``: ``sigmoid(logit(MEAN_SKIN_RGB) + residual)``
        (a zero residual gives the mean skin colour), and ``sh`` ``[N, 27]``: 9 SH
        coefficients per colour channel, laid out ``[9 x R, 9 x G, 9 x B]`` in the
        convention of :mod:`hand_mesh_core.render.shading`, as the head's output added to a
        uniform white environment (:func:`~hand_mesh_core.render.shading.uniform_sh`), so an
        untrained head renders the albedo unchanged. Raises ``RuntimeError`` when the head
        was built with ``num_vertices=0``.
        """
        if self.appearance_head is None:
            raise RuntimeError("appearance head disabled (num_vertices=0 in the model config)")
        out = self.appearance_head(features, batch_index, cells)
        residual = out[:, : 3 * self.num_vertices].view(-1, self.num_vertices, 3)
        albedo = torch.sigmoid(self.albedo_logit_mean + residual)
        return albedo, self.sh_base + out[:, 3 * self.num_vertices :]


def split_parameters(params: torch.Tensor, is_right: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pick each hand's left or right set from ``[N, 122]`` and split it by :data:`PARAM_SLICES`.

    ``is_right`` ``[N]`` bool. Returns a dict of ``global_orient [N, 3]``, ``hand_pose
    [N, 45]``, ``betas [N, 10]``, ``offset [N, 2]``, ``depth [N]``. Raises ``ValueError`` on
    shape mismatch.
    """
    if params.ndim != 2 or params.shape[1] != 2 * PARAMS_PER_SIDE or is_right.shape != params.shape[:1]:
        raise ValueError(f"params must be [N, 122] with is_right [N], got {tuple(params.shape)}, {tuple(is_right.shape)}")
    sets = params.view(-1, 2, PARAMS_PER_SIDE)
    chosen = torch.where(is_right[:, None], sets[:, 1], sets[:, 0])
    out = {k: chosen[:, s] for k, s in PARAM_SLICES.items()}
    out["depth"] = out["depth"][:, 0]
    return out
