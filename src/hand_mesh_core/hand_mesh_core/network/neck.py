"""Multi-scale fusion into one shared stride-4 feature map (the paper's neck).

Source: Ren, Zhu, Zhang (CVIU 2023) and their public code: the backbone features of strides
8, 16 and 32 are each upsampled to stride 4 by deconvolutions, L2-normalised over channels,
concatenated, and fused by a 3x3 convolution into one 256-channel map that every head reads.

Differences, chosen for speed and documented here:

- each level first goes through a 1x1 "lateral" convolution to ``lateral_channels`` at its
  own (low) resolution, so upsampling and fusion work on few channels;
- ``upsample="bilinear"`` (default, cheapest) or ``"deconv"`` (the authors' choice: one
  4x4 stride-2 transposed convolution per factor of 2);
- L2 normalisation is followed by a learnable per-channel scale initialised to
  ``l2_scale`` (ParseNet, Liu, Rabinovich, Berg 2015), without which the unit-norm features
  would start tiny next to the fusion convolution's initialisation;
- ``channels`` (256 in the paper) is configurable; the fusion conv is followed by
  batch norm and ReLU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Output stride of the shared map (the paper's 56x56 map at 224 input).
OUTPUT_STRIDE = 4


class FusionNeck(nn.Module):
    """Upsample, L2-normalise, concatenate and fuse multi-scale features at stride 4.

    Args:
        in_channels: channels of each backbone level (``backbone.out_channels``).
        in_strides: stride of each level (``backbone.strides``); each must be a power of two
            multiple of 4 (4, 8, 16, 32, ...).
        channels: channels of the shared output map.
        lateral_channels: channels of each level after its 1x1 lateral convolution.
        upsample: ``"bilinear"`` or ``"deconv"``.
        l2_scale: initial value of the learnable scale applied after L2 normalisation.

    ``forward(feats)``: list of ``[B, C_i, H/s_i, W/s_i]`` maps ordered as ``in_strides``;
    returns ``[B, channels, H/4, W/4]``. Raises ``ValueError`` for bad strides, an unknown
    upsampling mode, or a list of the wrong length.
    """

    def __init__(
        self,
        in_channels: list[int],
        in_strides: list[int],
        channels: int = 64,
        lateral_channels: int = 64,
        upsample: str = "bilinear",
        l2_scale: float = 10.0,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(in_strides) or not in_strides:
            raise ValueError(f"in_channels {in_channels} and in_strides {in_strides} must match and be non-empty")
        for s in in_strides:
            factor = s / OUTPUT_STRIDE
            if factor < 1 or not math.log2(factor).is_integer():
                raise ValueError(f"stride {s} is not 4 times a power of two")
        if upsample not in ("bilinear", "deconv"):
            raise ValueError(f"upsample must be 'bilinear' or 'deconv', got {upsample!r}")
        self.in_strides = list(in_strides)
        self.upsample = upsample
        self.out_channels = channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, lateral_channels, 1) for c in in_channels)
        self.deconv = nn.ModuleList()
        for s in in_strides:
            steps = int(math.log2(s // OUTPUT_STRIDE))
            layers: list[nn.Module] = []
            if upsample == "deconv":
                for _ in range(steps):
                    layers += [
                        nn.ConvTranspose2d(lateral_channels, lateral_channels, 4, 2, 1, bias=False),
                        nn.BatchNorm2d(lateral_channels),
                        nn.ReLU(inplace=True),
                    ]
            self.deconv.append(nn.Sequential(*layers))
        n = len(in_channels) * lateral_channels
        self.scale = nn.Parameter(torch.full((1, n, 1, 1), float(l2_scale)))
        self.fuse = nn.Sequential(
            nn.Conv2d(n, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        if len(feats) != len(self.lateral):
            raise ValueError(f"expected {len(self.lateral)} feature maps, got {len(feats)}")
        # size of the stride-4 map, from the finest level (exact for inputs divisible by 32)
        s0 = self.in_strides[0] // OUTPUT_STRIDE
        size = (feats[0].shape[-2] * s0, feats[0].shape[-1] * s0)
        ups = []
        for f, lat, up in zip(feats, self.lateral, self.deconv):
            y = up(lat(f))
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            ups.append(F.normalize(y, dim=1, eps=1e-6))
        return self.fuse(torch.cat(ups, dim=1) * self.scale)
