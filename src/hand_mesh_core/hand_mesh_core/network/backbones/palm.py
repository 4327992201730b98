"""PyTorch twin of MediaPipe's full-range palm detector, loaded from the mediapipe wheel.

Source network: ``mediapipe/modules/palm_detection/palm_detection_full.tflite`` of
``mediapipe==0.10.21`` (Apache-2.0; MediaPipe Hands, Zhang et al., "MediaPipe Hands:
On-device Real-time Hand Tracking", arXiv:2006.10214). Its graph, read op by op with
:mod:`.tflite_weights`, is a BlazeFace-style network (Bazarevsky et al., "BlazeFace:
Sub-millisecond Neural Face Detection on Mobile GPUs", arXiv:1907.05047) with 5x5
depthwise "BlazeBlocks", PReLU activations and a two-level top-down feature pyramid:

==========  ======  ========  ==========================================================
stride       ch     at 192    layers (Keras names in the .tflite)
==========  ======  ========  ==========================================================
2            32     96x96     stem 5x5/2 conv + PReLU, 4 blocks          -> ``p_re_lu_4``
4            64     48x48     down block (32->64), 4 blocks              -> ``p_re_lu_9``
8 (bottom)   128    24x24     down block (64->128), 4 blocks             -> ``p_re_lu_14``
16 (bottom)  256    12x12     down block (128->256), 4 blocks            -> ``p_re_lu_19``
32           256    6x6       down block (256->256), 4 blocks            -> ``p_re_lu_24``
16 (fused)   256    12x12     up(32) 1x1 conv+PReLU + bottom-16, 2 blocks -> ``p_re_lu_27``
8 (fused)    128    24x24     up(16f) 1x1 conv+PReLU + bottom-8, 2 blocks -> ``p_re_lu_30``
==========  ======  ========  ==========================================================

A block is ``PReLU(shortcut(x) + pw1x1(dw5x5(x)))``; a down block's depthwise conv has
stride 2 and its shortcut is a 2x2/2 max-pool followed by zero channel padding. The
detection heads are 1x1 convs on the fused maps: stride 8 -> 2 anchors per cell, stride 16
-> 6 anchors per cell, each anchor a score logit and 18 box/keypoint regressors
(2016 anchors at 192x192, decoded by :mod:`.palm_decoding`).

The backbone registered as ``"palm"`` returns the maps at ``out_strides`` (default 8, 16,
32: the two fused pyramid levels the heads read, and the top of the pyramid); strides 2
and 4 (the bottom-up maps) are available for a stride-4 neck.

Exactness: TF's "SAME" padding is reproduced exactly, including the asymmetric padding of
stride-2 layers (:func:`tf_same_padding`); the pyramid's ``RESIZE_BILINEAR``
(``half_pixel_centers=True``) is PyTorch's ``bilinear`` with ``align_corners=False``. The
fp16-stored weights are cast to float32 as the TFLite ``DEQUANTIZE`` op does. The test
suite compares every exposed map and both head outputs with a TFLite interpreter.

Input sizes: the graph is fully convolutional; the only fixed sizes in the .tflite are the
two upsampling targets (12x12, 24x24). The twin resizes each upsampled map to the size of
the skip map it is added to, which is exactly x2 when H and W are multiples of 32 and the
natural generalisation otherwise. Input is RGB in [0, 1], the range MediaPipe feeds this
model (``ImageToTensorCalculator`` ``output_tensor_float_range {min: 0 max: 1}`` in
``palm_detection_cpu.pbtxt``), so no normalisation is applied.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hand_mesh_core.network.backbones import register_backbone
from hand_mesh_core.network.backbones.tflite_weights import TfliteModel, palm_detection_model_path

#: Strides of the maps :class:`PalmBackbone` can return and their channel counts.
PALM_STRIDES = (2, 4, 8, 16, 32)
PALM_CHANNELS = {2: 32, 4: 64, 8: 128, 16: 256, 32: 256}
#: Anchors per feature-map cell of the detection heads, by stride (MediaPipe's
#: ``SsdAnchorsCalculator`` options: strides [8, 16, 16, 16], 2 anchors per layer).
PALM_ANCHORS_PER_CELL = {8: 2, 16: 6}
#: Values per anchor: box centre offset (x, y), size (w, h), 7 keypoints (x, y), in pixels.
PALM_NUM_COORDS = 18
#: Smallest input side: the stride-32 map must have at least one cell.
MIN_INPUT_SIZE = 32


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) that TensorFlow's "SAME" adds along one axis.

    ``out = ceil(size / stride)``, ``total = max((out - 1) * stride + kernel - size, 0)``,
    ``before = total // 2``, ``after = total - before`` (TF ``nn.convolution`` docs,
    "SAME" padding; TFLite ``ComputePaddingHeightWidth``): the extra pixel of an odd total
    goes after, e.g. (1, 2) for a 5x5 stride-2 conv on an even size. Raises
    ``ValueError`` for a non-positive size, kernel or stride.
    """
    if size < 1 or kernel < 1 or stride < 1:
        raise ValueError(f"size, kernel and stride must be >= 1, got {size}, {kernel}, {stride}")
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad ``x`` ``[B, C, H, W]`` as TF "SAME" does before a ``kernel``/``stride`` window op.

    ``value`` fills the border (0 for convolutions, -inf for max-pooling, whose SAME
    windows ignore out-of-image pixels). Returns ``x`` itself when no padding is needed.
    """
    top, bottom = tf_same_padding(x.shape[-2], kernel, stride)
    left, right = tf_same_padding(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TF "SAME" padding (asymmetric where TF pads asymmetrically).

    Stride 1 with an odd kernel pads symmetrically, done by the convolution itself; other
    cases pad explicitly with :func:`pad_same`.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        symmetric = stride == 1 and kernel % 2 == 1
        super().__init__(in_ch, out_ch, kernel, stride, padding=kernel // 2 if symmetric else 0, groups=groups)
        self._explicit_pad = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._explicit_pad:
            x = pad_same(x, self.kernel_size[0], self.stride[0])
        return super().forward(x)


class BlazeBlock(nn.Module):
    """``PReLU(shortcut(x) + pw(dw(x)))`` with a 5x5 depthwise conv (BlazeFace's single block).

    Args:
        in_ch, out_ch: channels in and out (``out_ch >= in_ch``).
        stride: 1, or 2 for a down block, whose shortcut is a 2x2/2 "SAME" max-pool.
    Extra output channels of the shortcut are zeros (the .tflite's channel ``PAD``).
    ``forward``: ``[B, in_ch, H, W]`` -> ``[B, out_ch, ceil(H/stride), ceil(W/stride)]``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        if out_ch < in_ch or stride not in (1, 2):
            raise ValueError(f"BlazeBlock needs out_ch >= in_ch and stride 1 or 2, got {in_ch}->{out_ch}/{stride}")
        # registration order = the Keras layer creation order (dw, pw, PReLU) used to load weights
        self.dw = SameConv2d(in_ch, in_ch, 5, stride, groups=in_ch)
        self.pw = nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.PReLU(out_ch)
        self.stride = stride
        self.extra_channels = out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        if self.stride == 2:
            x = F.max_pool2d(pad_same(x, 2, 2, value=float("-inf")), 2, 2)
        if self.extra_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))
        return self.act(x + y)


class TopDownFusion(nn.Module):
    """Pyramid step: upsample the coarse map to the skip map's size, 1x1 conv, PReLU, add.

    ``forward(coarse [B, in_ch, h, w], skip [B, out_ch, H, W]) -> [B, out_ch, H, W]``. The
    resize is bilinear with half-pixel centres (TF ``RESIZE_BILINEAR``
    ``half_pixel_centers=True`` = PyTorch ``align_corners=False``); there is no activation
    after the addition (as in the .tflite).
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)
        self.act = nn.PReLU(out_ch)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return skip + self.act(self.conv(up))


def _stage(in_ch: int, out_ch: int, blocks: int, down: bool) -> nn.Sequential:
    layers = [BlazeBlock(in_ch, out_ch, stride=2)] if down else []
    layers += [BlazeBlock(out_ch, out_ch) for _ in range(blocks)]
    return nn.Sequential(*layers)


class PalmBackbone(nn.Module):
    """The palm detector's feature extractor and feature pyramid (no heads).

    Args:
        out_strides: which maps ``forward`` returns, a non-empty subset of
            :data:`PALM_STRIDES`; channels in :data:`PALM_CHANNELS` (8 and 16 are the
            fused pyramid levels).
        pretrained: load MediaPipe's weights from the installed mediapipe wheel (no
            network access); False leaves PyTorch's default initialisation.
        model_path: another ``.tflite`` with the same graph (default: the wheel's
            ``palm_detection_full.tflite``).

    ``forward(x)``: ``x`` ``[B, 3, H, W]`` float RGB in ``[0, 1]``, H, W >= 32; returns
    the maps ``[B, C_s, ceil(H/s), ceil(W/s)]`` for ``s`` in ``strides`` (increasing).
    Attributes ``strides`` and ``out_channels`` describe them. Raises ``ValueError`` for a
    bad ``out_strides`` or input, and the errors of :func:`load_palm_weights`.
    """

    def __init__(
        self,
        out_strides: tuple[int, ...] = (8, 16, 32),
        pretrained: bool = True,
        model_path: str | Path | None = None,
    ) -> None:
        super().__init__()
        strides = sorted({int(s) for s in out_strides})
        if not strides or any(s not in PALM_STRIDES for s in strides):
            raise ValueError(f"out_strides must be a non-empty subset of {PALM_STRIDES}, got {tuple(out_strides)}")
        self.strides = strides
        self.out_channels = [PALM_CHANNELS[s] for s in strides]
        # registration order = Keras creation order (see keras_layer_names)
        self.stem = SameConv2d(3, 32, 5, stride=2)
        self.stem_act = nn.PReLU(32)
        self.stage2 = _stage(32, 32, 4, down=False)
        self.stage4 = _stage(32, 64, 4, down=True)
        self.stage8 = _stage(64, 128, 4, down=True)
        self.stage16 = _stage(128, 256, 4, down=True)
        self.stage32 = _stage(256, 256, 4, down=True)
        self.up16 = TopDownFusion(256, 256)
        self.fuse16 = _stage(256, 256, 2, down=False)
        self.up8 = TopDownFusion(256, 128)
        self.fuse8 = _stage(128, 128, 2, down=False)
        if pretrained:
            load_palm_weights(self, TfliteModel.from_file(model_path or palm_detection_model_path("full")))

    def pyramid(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """All maps by stride ``{2, 4, 8, 16, 32}`` (8 and 16 fused); input as ``forward``."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected [B, 3, H, W] RGB in [0, 1], got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"input H and W must be >= {MIN_INPUT_SIZE}, got {tuple(x.shape[-2:])}")
        c2 = self.stage2(self.stem_act(self.stem(x)))
        c4 = self.stage4(c2)
        c8 = self.stage8(c4)
        c16 = self.stage16(c8)
        c32 = self.stage32(c16)
        p16 = self.fuse16(self.up16(c32, c16))
        p8 = self.fuse8(self.up8(p16, c8))
        return {2: c2, 4: c4, 8: p8, 16: p16, 32: c32}

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.pyramid(x)
        return [maps[s] for s in self.strides]


@dataclasses.dataclass
class PalmDetectorOutput:
    """Raw outputs of :class:`PalmDetector` (anchor order: stride 8 cells then stride 16,
    row-major, anchors of a cell consecutive; MediaPipe's order).

    Attributes:
        regressors: ``[B, N, 18]`` float, per anchor: box centre offset (x, y) from the
            anchor centre, box size (w, h), then 7 palm keypoints (x, y) as offsets from
            the anchor centre, all in input pixels.
        logits: ``[B, N]`` float, palm score before the sigmoid.
        features: the backbone's maps by stride (see :meth:`PalmBackbone.pyramid`).
    """

    regressors: torch.Tensor
    logits: torch.Tensor
    features: dict[int, torch.Tensor]


class PalmDetector(nn.Module):
    """The complete palm detector: :class:`PalmBackbone` plus its SSD heads.

    Args: ``pretrained`` and ``model_path`` as :class:`PalmBackbone`.
    ``forward(x)``: ``x`` ``[B, 3, H, W]`` RGB in ``[0, 1]`` -> :class:`PalmDetectorOutput`
    with ``N = ceil(H/8)*ceil(W/8)*2 + ceil(H/16)*ceil(W/16)*6`` anchors (2016 at 192x192).
    Used to verify the twin against the .tflite and as a palm detector in its own right.
    """

    def __init__(self, pretrained: bool = True, model_path: str | Path | None = None) -> None:
        super().__init__()
        self.backbone = PalmBackbone(out_strides=PALM_STRIDES, pretrained=False)
        a8, a16 = PALM_ANCHORS_PER_CELL[8], PALM_ANCHORS_PER_CELL[16]
        self.classifier8 = nn.Conv2d(PALM_CHANNELS[8], a8, 1)
        self.regressor8 = nn.Conv2d(PALM_CHANNELS[8], a8 * PALM_NUM_COORDS, 1)
        self.classifier16 = nn.Conv2d(PALM_CHANNELS[16], a16, 1)
        self.regressor16 = nn.Conv2d(PALM_CHANNELS[16], a16 * PALM_NUM_COORDS, 1)
        if pretrained:
            load_palm_weights(self, TfliteModel.from_file(model_path or palm_detection_model_path("full")))

    def forward(self, x: torch.Tensor) -> PalmDetectorOutput:
        maps = self.backbone.pyramid(x)
        b = x.shape[0]
        # NCHW -> NHWC before flattening gives TFLite's anchor order (cell-major, anchor-minor)
        regressors = torch.cat(
            [
                self.regressor8(maps[8]).permute(0, 2, 3, 1).reshape(b, -1, PALM_NUM_COORDS),
                self.regressor16(maps[16]).permute(0, 2, 3, 1).reshape(b, -1, PALM_NUM_COORDS),
            ],
            dim=1,
        )
        logits = torch.cat(
            [
                self.classifier8(maps[8]).permute(0, 2, 3, 1).reshape(b, -1),
                self.classifier16(maps[16]).permute(0, 2, 3, 1).reshape(b, -1),
            ],
            dim=1,
        )
        return PalmDetectorOutput(regressors, logits, maps)


def keras_layer_names(module: PalmBackbone | PalmDetector) -> dict[str, nn.Module]:
    """The Keras layer name of every weighted layer of the twin.

    Keras names layers of one type by creation order (``conv2d``, ``conv2d_1``, ...;
    ``depthwise_conv2d_<i>``; ``p_re_lu_<i>``). The backbone registers its layers in the
    order the original model created them, so the i-th dense conv / depthwise conv /
    PReLU of ``module.modules()`` is the i-th of its type; the four heads carry the
    explicit names of the .tflite (``classifier_palm_8_NO_PRUNING``, ...).
    """
    backbone = module.backbone if isinstance(module, PalmDetector) else module
    names: dict[str, nn.Module] = {}
    counters = {"conv2d": 0, "depthwise_conv2d": 0, "p_re_lu": 0}
    for m in backbone.modules():
        if isinstance(m, nn.Conv2d):
            kind = "depthwise_conv2d" if m.groups > 1 else "conv2d"
        elif isinstance(m, nn.PReLU):
            kind = "p_re_lu"
        else:
            continue
        i = counters[kind]
        names[kind if i == 0 else f"{kind}_{i}"] = m
        counters[kind] += 1
    if isinstance(module, PalmDetector):
        for stride in (8, 16):
            names[f"classifier_palm_{stride}_NO_PRUNING"] = getattr(module, f"classifier{stride}")
            names[f"regressor_palm_{stride}_NO_PRUNING"] = getattr(module, f"regressor{stride}")
    return names


def load_palm_weights(module: PalmBackbone | PalmDetector, model: TfliteModel) -> None:
    """Copy the palm detector's weights from a parsed .tflite into the twin, in place.

    A :class:`PalmBackbone` takes the backbone layers and ignores the four head layers; a
    :class:`PalmDetector` takes all of them. Raises ``ValueError`` if a twin layer has no
    counterpart in the file, a weight's shape differs, or (backbone or detector) a
    non-head layer of the file is left unused: the file is then not this graph.
    """
    twin = keras_layer_names(module)
    layers = model.layer_weights()
    missing = sorted(set(twin) - set(layers))
    unused = sorted(n for n in set(layers) - set(twin) if not isinstance(module, PalmBackbone) or "_palm_" not in n)
    if missing or unused:
        raise ValueError(f"the .tflite does not match the palm twin: missing {missing}, unused {unused}")
    with torch.no_grad():
        for name, m in twin.items():
            w = layers[name]
            expected_kind = "prelu" if isinstance(m, nn.PReLU) else ("depthwise" if m.groups > 1 else "conv")
            if w.kind != expected_kind or tuple(m.weight.shape) != w.weight.shape:
                raise ValueError(
                    f"{name}: .tflite has {w.kind} {w.weight.shape}, twin has {expected_kind} {tuple(m.weight.shape)}"
                )
            m.weight.copy_(torch.from_numpy(w.weight))
            if w.bias is not None:
                if m.bias is None or tuple(m.bias.shape) != w.bias.shape:
                    raise ValueError(f"{name}: bias shape {w.bias.shape} does not fit the twin")
                m.bias.copy_(torch.from_numpy(w.bias))


@register_backbone("palm")
def palm(
    out_strides: tuple[int, ...] = (8, 16, 32),
    pretrained: bool = True,
    model_path: str | None = None,
) -> PalmBackbone:
    """MediaPipe palm-detector backbone with pyramid (channels 128/256/256 at strides 8/16/32
    by default; 32 and 64 at strides 2 and 4); ``pretrained`` loads the mediapipe wheel's weights."""
    return PalmBackbone(out_strides=tuple(out_strides), pretrained=pretrained, model_path=model_path)
