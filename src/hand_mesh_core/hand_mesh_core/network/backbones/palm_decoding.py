"""Decoding the palm detector's raw outputs into palms: MediaPipe's SSD anchor scheme.

Follows MediaPipe's ``palm_detection_cpu.pbtxt`` (mediapipe 0.10.x):

- ``SsdAnchorsCalculator`` with ``strides: [8, 16, 16, 16]``, ``aspect_ratios: [1.0]``,
  ``anchor_offset 0.5`` and ``fixed_anchor_size: true``: layers of equal stride share one
  grid, so a stride-8 cell holds 2 anchors and a stride-16 cell 6, all of unit size
  centred on the cell; order: stride 8 cells, then stride 16, row-major, anchors of a cell
  consecutive (2016 anchors at 192x192);
- ``TensorsToDetectionsCalculator`` with ``reverse_output_order: true`` (x before y),
  ``sigmoid_score: true``, ``score_clipping_thresh: 100`` and x/y/w/h scales equal to the
  input size, i.e. regressors are pixel offsets from the anchor centre (box centre x, y),
  the box size w, h in pixels, then 7 palm keypoints as pixel offsets;
- ``NonMaxSuppressionCalculator`` with ``algorithm: WEIGHTED``, IoU threshold 0.3: the
  best remaining box absorbs every box overlapping it by more than the threshold, and its
  box and keypoints become the score-weighted mean of the absorbed ones.

Anchor centres are ``(cell + 0.5) * stride`` pixels, which is MediaPipe's normalised
centre times the input size whenever the size is a multiple of the stride; for other
sizes it is the geometric centre of the cell. All coordinates are pixels of the network
input (u right, v down, origin top-left).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from hand_mesh_core.network.backbones.palm import PALM_ANCHORS_PER_CELL, PALM_NUM_COORDS

#: Score threshold and IoU threshold of MediaPipe's palm detection graph.
DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_IOU_THRESHOLD = 0.3
#: Raw logits are clipped to +-100 before the sigmoid (``score_clipping_thresh``).
SCORE_CLIP = 100.0
NUM_PALM_KEYPOINTS = 7


@dataclasses.dataclass(frozen=True)
class PalmDetection:
    """One detected palm, in pixels of the network input.

    Attributes:
        score: sigmoid score in [0, 1].
        box: float32 ``[4]`` (x0, y0, x1, y1), the palm box (not the whole hand).
        keypoints: float32 ``[7, 2]`` (u, v), MediaPipe's 7 palm keypoints (0: wrist
            centre, 2: middle-finger MCP; MediaPipe takes the hand's rotation from 0 -> 2).
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray


def palm_anchor_centres(height: int, width: int) -> np.ndarray:
    """Anchor centres ``[N, 2]`` float32 (u, v) pixels for an input of ``height`` x ``width``.

    ``N = ceil(H/8) * ceil(W/8) * 2 + ceil(H/16) * ceil(W/16) * 6`` in the detector's
    output order. Raises ``ValueError`` for a non-positive size.
    """
    if height < 1 or width < 1:
        raise ValueError(f"input size must be positive, got {height}x{width}")
    centres = []
    for stride, per_cell in PALM_ANCHORS_PER_CELL.items():
        rows, cols = -(-height // stride), -(-width // stride)
        v, u = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride, indexing="ij")
        grid = np.stack([u.ravel(), v.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode_palm_detections(
    regressors: torch.Tensor | np.ndarray,
    logits: torch.Tensor | np.ndarray,
    input_size: tuple[int, int],
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> list[PalmDetection]:
    """Palms of one image from the raw outputs, best first.

    Args:
        regressors: ``[N, 18]`` raw box/keypoint regressors of one image (pixels).
        logits: ``[N]`` (or ``[N, 1]``) raw score logits.
        input_size: (H, W) of the network input in pixels.
        score_threshold: keep anchors whose sigmoid score is >= this.
        iou_threshold: weighted-NMS merge threshold (IoU strictly above it is merged).

    Raises ``ValueError`` if the shapes do not match the anchors of ``input_size`` or a
    threshold is outside [0, 1].
    """
    if not (0.0 <= score_threshold <= 1.0 and 0.0 <= iou_threshold <= 1.0):
        raise ValueError(f"thresholds must be in [0, 1], got {score_threshold}, {iou_threshold}")
    reg = _to_numpy(regressors)
    logit = _to_numpy(logits).reshape(-1)
    anchors = palm_anchor_centres(*input_size)
    if reg.shape != (len(anchors), PALM_NUM_COORDS) or logit.shape != (len(anchors),):
        raise ValueError(
            f"expected regressors [{len(anchors)}, {PALM_NUM_COORDS}] and logits [{len(anchors)}] "
            f"for input {tuple(input_size)}, got {reg.shape} and {logit.shape}"
        )
    scores = 1.0 / (1.0 + np.exp(-np.clip(logit, -SCORE_CLIP, SCORE_CLIP)))
    keep = np.flatnonzero(scores >= score_threshold)
    if keep.size == 0:
        return []
    reg, scores, anchors = reg[keep], scores[keep], anchors[keep]
    centre = anchors + reg[:, 0:2]
    half = 0.5 * reg[:, 2:4]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = anchors[:, None, :] + reg[:, 4:].reshape(-1, NUM_PALM_KEYPOINTS, 2)
    return _weighted_nms(boxes, keypoints, scores, iou_threshold)


def _weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[PalmDetection]:
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out = []
    while remaining.size:
        top = remaining[0]
        iou = _iou(boxes[top], boxes[remaining])
        merged = remaining[iou > iou_threshold]
        merged = merged if merged.size else remaining[:1]
        w = scores[merged][:, None]
        box = (boxes[merged] * w).sum(0) / w.sum()
        kps = (keypoints[merged] * w[:, :, None]).sum(0) / w.sum()
        out.append(PalmDetection(float(scores[top]), box.astype(np.float32), kps.astype(np.float32)))
        remaining = remaining[iou <= iou_threshold]
        remaining = remaining[remaining != top]
    return out


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)
