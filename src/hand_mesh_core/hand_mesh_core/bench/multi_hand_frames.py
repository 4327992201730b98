"""Real test frames holding a chosen number of hands, for the hand-count benchmark.

The benchmark needs frames that differ only in how many hands they contain. They are
composed from real photos (``../shared/data/images``):

1. the reference detector (MediaPipe HandLandmarker, :mod:`hand_mesh_core.two_stage.landmarker`)
   finds the hands of each photo; each hand is cut out as a square around its 21
   landmarks, ``margin`` times the landmarks' larger extent (out-of-image parts padded
   with the background grey). Crops are ordered by how many landmarks of *other* hands
   they contain (hands close to another hand, whose crop shows part of it, come last),
   so the frames with few hands hold the cleanest single hands;
2. a frame of fixed size is divided into a fixed grid of slots (default 640x480, 4 x 2 slots
   of 160 x 240 pixels); a frame with ``N`` hands fills the first ``N`` slots (row by row)
   with the first ``N`` crops, each resized to the slot width, the other slots stay grey.

So every hand has the same size in every frame, and the frames differ in the number of
hands only. Whether the composed frames really hold ``N`` detectable hands is checked by
running the reference detector on them (:func:`count_detected_hands`); the benchmark
reports those counts. Measured here (mediapipe 0.10.21): MediaPipe finds the single hand
but only one or two hands in such composites with 2 to 8 hands, even when each crop alone
is found at the same size; its palm detector's scores collapse when several small hands
share the frame (two copies of one well-detected crop: no palm found). Hand counts for the
two-stage pipeline therefore come from this check, not from ``N``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.media import list_images, load_rgb

#: Grey level of the frame background and of crop padding (RGB, all channels).
BACKGROUND = 114
#: Default frame size (width, height) and slot grid (columns, rows).
FRAME_SIZE = (640, 480)
GRID = (4, 2)


@dataclasses.dataclass(frozen=True)
class HandCrop:
    """One hand cut out of a photo.

    Attributes:
        rgb: ``SxSx3 uint8`` square crop.
        source: file name of the photo.
        handedness: ``"left"`` / ``"right"`` as the reference detector labelled it.
        box: ``(x0, y0, side)`` of the square in the photo's pixels.
        others_inside: landmarks of other detected hands of the photo inside the square.
    """

    rgb: np.ndarray
    source: str
    handedness: str
    box: tuple[int, int, int]
    others_inside: int = 0


def square_crop(image: np.ndarray, keypoints_2d: np.ndarray, margin: float) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Square crop centred on the keypoints' box, ``margin`` times its larger side.

    ``image`` ``HxWx3 uint8``; ``keypoints_2d`` ``[K, 2]`` pixels. Parts outside the image
    are :data:`BACKGROUND`. Returns the crop and ``(x0, y0, side)``. Raises ``ValueError``
    for ``margin <= 0`` or keypoints that are not ``[K, 2]`` with ``K >= 2``.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2 or kp.shape[0] < 2:
        raise ValueError(f"keypoints must be [K >= 2, 2], got {kp.shape}")
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    lo, hi = kp.min(axis=0), kp.max(axis=0)
    centre = (lo + hi) / 2.0
    side = max(8, int(round(float((hi - lo).max()) * margin)))
    x0, y0 = (int(round(c - side / 2.0)) for c in centre)
    h, w = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(BACKGROUND,) * 3)
    crop = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side]
    return np.ascontiguousarray(crop), (x0, y0, side)


def collect_hand_crops(
    images: str | Path | Sequence[str | Path],
    limit: int = 8,
    margin: float = 1.3,
    min_score: float = 0.3,
) -> list[HandCrop]:
    """Crops of the hands the reference detector finds in real photos.

    Args:
        images: a folder of photos or a list of files (read in sorted order).
        limit: stop after this many crops.
        margin: crop side / larger side of the hand's landmark box.
        min_score: MediaPipe's detection and presence threshold.

    Returns up to ``limit`` crops, those with the fewest landmarks of other hands first
    (ties: photo by photo, MediaPipe's order within a photo). Raises
    ``FileNotFoundError`` for a missing folder or file.
    """
    from hand_mesh_core.two_stage.landmarker import HandLandmarker

    if isinstance(images, (str, Path)):
        folder = Path(images)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder not found: {folder}")
        paths = list_images(folder)
    else:
        paths = sorted(Path(p) for p in images)
    landmarker = HandLandmarker(max_hands=8, min_detection_confidence=min_score, min_presence_confidence=min_score)
    crops: list[HandCrop] = []
    try:
        for path in paths:
            rgb = load_rgb(path)
            hands = landmarker.detect(rgb)
            for i, hand in enumerate(hands):
                crop, (x0, y0, side) = square_crop(rgb, hand.keypoints_2d, margin)
                inside = sum(
                    int(np.all((o.keypoints_2d >= (x0, y0)) & (o.keypoints_2d < (x0 + side, y0 + side)), axis=1).sum())
                    for j, o in enumerate(hands) if j != i
                )
                crops.append(HandCrop(crop, path.name, hand.handedness, (x0, y0, side), inside))
    finally:
        landmarker.close()
    return sorted(crops, key=lambda c: c.others_inside)[:limit]


def slot_boxes(frame_size: tuple[int, int] = FRAME_SIZE, grid: tuple[int, int] = GRID) -> list[tuple[int, int, int, int]]:
    """``(x, y, width, height)`` of each slot, row by row. Raises ``ValueError`` for a grid
    that does not fit the frame (slots smaller than 8 pixels)."""
    (width, height), (cols, rows) = frame_size, grid
    if cols < 1 or rows < 1 or width // cols < 8 or height // rows < 8:
        raise ValueError(f"grid {grid} does not fit a {width}x{height} frame")
    sw, sh = width // cols, height // rows
    return [(c * sw, r * sh, sw, sh) for r in range(rows) for c in range(cols)]


def compose_frame(
    crops: Sequence[HandCrop],
    count: int,
    frame_size: tuple[int, int] = FRAME_SIZE,
    grid: tuple[int, int] = GRID,
    fill: float = 1.0,
) -> np.ndarray:
    """A ``HxWx3 uint8`` frame with the first ``count`` crops in the first ``count`` slots.

    Each crop is resized (area interpolation when shrinking) to a square of ``fill`` times
    the slot's smaller side and centred in its slot; the rest of the frame is
    :data:`BACKGROUND`. Raises ``ValueError`` when ``count`` exceeds the crops or the
    slots, or is negative, or ``fill`` is outside ``(0, 1]``.
    """
    if not 0.0 < fill <= 1.0:
        raise ValueError(f"fill must be in (0, 1], got {fill}")
    slots = slot_boxes(frame_size, grid)
    if not 0 <= count <= min(len(crops), len(slots)):
        raise ValueError(f"count must be in [0, {min(len(crops), len(slots))}] ({len(crops)} crops, "
                         f"{len(slots)} slots), got {count}")
    width, height = frame_size
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    for crop, (x, y, sw, sh) in zip(crops[:count], slots):
        side = max(1, int(round(min(sw, sh) * fill)))
        interp = cv2.INTER_AREA if crop.rgb.shape[0] > side else cv2.INTER_LINEAR
        patch = cv2.resize(crop.rgb, (side, side), interpolation=interp)
        ox, oy = x + (sw - side) // 2, y + (sh - side) // 2
        frame[oy : oy + side, ox : ox + side] = patch
    return frame


def compose_frames(
    crops: Sequence[HandCrop],
    counts: Sequence[int] = (1, 2, 4, 8),
    frame_size: tuple[int, int] = FRAME_SIZE,
    grid: tuple[int, int] = GRID,
    fill: float = 1.0,
) -> dict[int, np.ndarray]:
    """``{count: frame}`` for each count (:func:`compose_frame`)."""
    return {int(n): compose_frame(crops, int(n), frame_size, grid, fill) for n in counts}


def count_detected_hands(frames: dict[int, np.ndarray], min_score: float = 0.5, max_hands: int = 16) -> dict[int, int]:
    """How many hands the reference detector (MediaPipe, IMAGE mode) finds in each frame.

    ``min_score`` is its detection and presence threshold (0.5: the two_stage backend's
    default). Returns ``{count: detected}``.
    """
    from hand_mesh_core.two_stage.landmarker import HandLandmarker

    landmarker = HandLandmarker(max_hands=max_hands, min_detection_confidence=min_score,
                                min_presence_confidence=min_score)
    try:
        return {n: len(landmarker.detect(frame)) for n, frame in frames.items()}
    finally:
        landmarker.close()
