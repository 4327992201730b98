"""Compact ResNet-18/34/50 backbones (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016), written here because torchvision has no CPU build on our machines.

The layer layout follows the paper's Table 1 (and torchvision's ``resnet18/34/50``): a 7x7
stride-2 stem + 3x3 stride-2 max-pool, then four stages of basic (18/34) or bottleneck (50)
blocks with strides 4, 8, 16, 32; the stride-2 convolution of a bottleneck sits on its 3x3
conv ("ResNet v1.5"). Weights are randomly initialised (Kaiming normal, zero-initialised
last batch-norm of each residual branch, Goyal et al. 2017); no download ever happens.

``width`` scales every channel count (64 is the paper's), so tests can build tiny models.
"""

from __future__ import annotations

import torch
from torch import nn

from hand_mesh_core.network.backbones import register_backbone

#: ImageNet statistics used to normalise RGB in [0, 1] (the convention of ResNet training).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = ch * self.expansion
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride), 1x1 expand by 4, plus shortcut."""

    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = ch * self.expansion
        self.conv1 = nn.Conv2d(in_ch, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = _shortcut(in_ch, out_ch, stride)
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + self.shortcut(x))


def _shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Module:
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))


class ResNet(nn.Module):
    """ResNet feature extractor returning the outputs of its four stages.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: number of blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        width: channels of the first stage before expansion (64 in the paper); must be >= 4.
        out_strides: which stage outputs to return, a subset of ``(4, 8, 16, 32)``.

    ``forward(x)``: ``x`` ``[B, 3, H, W]`` float RGB in ``[0, 1]``; returns the selected
    stage outputs ``[B, C_s, H/s, W/s]`` in increasing stride ``s`` (H, W multiples of 32
    give exact sizes). Attributes ``out_channels`` and ``strides`` describe them.
    Raises ``ValueError`` for a bad ``width``/``out_strides`` or an input that is not
    ``[B, 3, H, W]``.
    """

    STAGE_STRIDES = (4, 8, 16, 32)

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        width: int = 64,
        out_strides: tuple[int, ...] = (4, 8, 16, 32),
    ) -> None:
        super().__init__()
        if width < 4:
            raise ValueError(f"width must be >= 4, got {width}")
        out_strides = tuple(int(s) for s in out_strides)
        if not out_strides or any(s not in self.STAGE_STRIDES for s in out_strides):
            raise ValueError(f"out_strides must be a non-empty subset of {self.STAGE_STRIDES}, got {out_strides}")
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        stages = []
        in_ch = width
        stage_channels = []
        for i, n in enumerate(layers):
            ch = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(in_ch, ch, stride=2 if (j == 0 and i > 0) else 1))
                in_ch = ch * block.expansion
            stages.append(nn.Sequential(*blocks))
            stage_channels.append(in_ch)
        # stages beyond the last requested stride are not built (no wasted compute)
        last = self.STAGE_STRIDES.index(max(out_strides)) + 1
        self.stages = nn.ModuleList(stages[:last])
        self._keep = [self.STAGE_STRIDES[i] in out_strides for i in range(last)]
        self.strides = sorted(out_strides)
        self.out_channels = [stage_channels[self.STAGE_STRIDES.index(s)] for s in self.strides]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected [B, 3, H, W] RGB in [0, 1], got shape {tuple(x.shape)}")
        x = self.stem((x - self.mean) / self.std)
        feats = []
        for stage, keep in zip(self.stages, self._keep):
            x = stage(x)
            if keep:
                feats.append(x)
        return feats


@register_backbone("resnet18")
def resnet18(width: int = 64, out_strides: tuple[int, ...] = (8, 16, 32)) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2); channels ``[2w, 4w, 8w]`` at strides 8/16/32 by default."""
    return ResNet(BasicBlock, (2, 2, 2, 2), width, out_strides)


@register_backbone("resnet34")
def resnet34(width: int = 64, out_strides: tuple[int, ...] = (8, 16, 32)) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3); channels ``[2w, 4w, 8w]`` at strides 8/16/32 by default."""
    return ResNet(BasicBlock, (3, 4, 6, 3), width, out_strides)


@register_backbone("resnet50")
def resnet50(width: int = 64, out_strides: tuple[int, ...] = (8, 16, 32)) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3); channels ``[8w, 16w, 32w]`` at strides 8/16/32 by default."""
    return ResNet(Bottleneck, (3, 4, 6, 3), width, out_strides)
