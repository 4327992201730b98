"""Tiled inference for small hands in large frames, for every backend (``create_predictor(tiles=...)``).

Both backends shrink the whole frame to their detector's input (MediaPipe's palm detector:
192 px; the single-stage network: its 256 px letterbox), so a 40 px hand of a 1920x1080
frame reaches the detector as 4-6 px and is lost. Tiled mode runs the backend on the full
frame *and* on overlapping crops of it, each of which the backend shrinks far less, then
maps every hand back to the frame and merges duplicates.

Tiles (:func:`plan_tiles`): a ``cols x rows`` grid over the frame, neighbours overlapping
by :data:`TILE_OVERLAP` of a tile's side, plus the full frame. Policies (:func:`parse_tiles`):

* ``"off"``: the full frame only (the backend as it is);
* ``"auto"``: tiles only when the frame's longer side exceeds :data:`AUTO_TILE_FACTOR`
  times the backend's detector input (:attr:`Predictor.detector_input_side`); the grid then
  has as many columns / rows as needed to bring a tile's side under that bound, at most
  :data:`AUTO_MAX_GRID`. A 640x480 frame gets no tiles with either backend;
* ``"CxR"`` (e.g. ``"2x2"``, ``"3x2"``): that grid on every frame.

Mapping a tile's hands back (:func:`tile_intrinsics`, :func:`shift_hand`): a tile is a crop,
not a resize, so it keeps the frame's focal lengths and its principal point moves by the
tile's offset, ``K_tile = K`` with ``cx - x0``, ``cy - y0``. The backend's 3D output for a
tile is therefore in the frame camera's optical frame already (the same rays: metric depths
equal the full-frame ones); its 2D keypoints and box move by ``(+x0, +y0)``. The backend's own
resizing of the tile (letterbox, ``max_image_side``) is inside its ``predict`` and undone
there.

Merging (:func:`merge_hands`): a hand reported by several tiles and/or the full frame is
kept once. Two reports are the same hand when their boxes overlap by IoU above
:data:`MERGE_IOU` or the smaller box lies mostly inside the larger
(:data:`MERGE_CONTAINMENT`: a hand cut by a tile border yields a partial box inside the whole
hand's box). Reports are taken in order of (cut by an inner tile border, descending score),
so a hand is kept from a tile that holds it whole or from the full frame, before any cut view.

Stream mode: the tiles run in image mode (one backend in IMAGE mode serves every tile: the
video state of MediaPipe or of warm starts would mix tiles), and the merged hands go through
the shared tracker and smoother of :class:`~hand_mesh_core.predictor.Predictor` as
untiled hands do.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from typing import Any

import numpy as np

from hand_mesh_core.boxes import box_iou
from hand_mesh_core.predictor import Predictor
from hand_mesh_core.results import HandResult, Prediction

#: Overlap of neighbouring tiles, fraction of a tile's side.
TILE_OVERLAP = 0.25
#: "auto": a frame (or tile) side of at most this many detector inputs is left whole.
AUTO_TILE_FACTOR = 3.5
#: "auto": the largest grid (columns, rows).
AUTO_MAX_GRID = (3, 2)
#: Merging thresholds (see the module docstring).
MERGE_IOU = 0.4
MERGE_CONTAINMENT = 0.7
#: A hand's box within this many pixels of an inner tile border counts as cut by it.
CUT_MARGIN_PX = 2.0

_GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class TileSpec:
    """A parsed ``tiles`` option: ``mode`` is ``"off"``, ``"auto"`` or ``"grid"`` (then ``grid``
    = (columns, rows))."""

    mode: str
    grid: tuple[int, int] | None = None

    def __str__(self) -> str:
        return f"{self.grid[0]}x{self.grid[1]}" if self.mode == "grid" else self.mode


def parse_tiles(spec: str | TileSpec | None) -> TileSpec:
    """``"off"`` / None, ``"auto"`` or ``"CxR"`` (1-8 each, not 1x1) -> :class:`TileSpec`.

    Raises ``ValueError`` for anything else."""
    if isinstance(spec, TileSpec):
        return spec
    if spec is None or str(spec).strip().lower() in ("off", "none", ""):
        return TileSpec("off")
    text = str(spec).strip().lower()
    if text == "auto":
        return TileSpec("auto")
    m = _GRID.match(text)
    if m:
        cols, rows = int(m.group(1)), int(m.group(2))
        if 1 <= cols <= 8 and 1 <= rows <= 8 and (cols, rows) != (1, 1):
            return TileSpec("grid", (cols, rows))
    raise ValueError(f"tiles must be 'off', 'auto' or a grid 'CxR' (e.g. '2x2', 1-8 each), got {spec!r}")


def grid_for(width: int, height: int, spec: TileSpec, detector_side: int) -> tuple[int, int]:
    """(columns, rows) of the grid ``spec`` gives a ``width`` x ``height`` frame; (1, 1) = no tiles."""
    if spec.mode == "off":
        return (1, 1)
    if spec.mode == "grid":
        return spec.grid
    bound = AUTO_TILE_FACTOR * detector_side
    if max(width, height) <= bound:
        return (1, 1)
    # a tile of a c-column grid with overlap o spans w / (c - (c - 1) o)
    def count(side: float, limit: int) -> int:
        for c in range(1, limit + 1):
            if side / (c - (c - 1) * TILE_OVERLAP) <= bound:
                return c
        return limit

    return (count(width, AUTO_MAX_GRID[0]), count(height, AUTO_MAX_GRID[1]))


def plan_tiles(width: int, height: int, spec: TileSpec, detector_side: int) -> list[tuple[int, int, int, int]]:
    """The crops ``(x0, y0, x1, y1)`` (integer pixels, end exclusive) of a frame, full frame first.

    Neighbouring tiles overlap by :data:`TILE_OVERLAP` of a tile's side and the grid covers
    the frame exactly (the last tile ends at the frame's edge). Raises ``ValueError`` for a
    non-positive size.
    """
    if width < 1 or height < 1:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    cols, rows = grid_for(width, height, spec, detector_side)
    tiles = [(0, 0, width, height)]
    if (cols, rows) == (1, 1):
        return tiles

    def spans(side: int, n: int) -> list[tuple[int, int]]:
        if n == 1:
            return [(0, side)]
        length = side / (n - (n - 1) * TILE_OVERLAP)
        step = (side - length) / (n - 1)
        return [(int(math.floor(i * step)), min(side, int(math.ceil(i * step + length)))) for i in range(n)]

    for y0, y1 in spans(height, rows):
        for x0, x1 in spans(width, cols):
            tiles.append((x0, y0, x1, y1))
    return tiles


def tile_intrinsics(K: np.ndarray, x0: float, y0: float) -> np.ndarray:
    """Intrinsics of a crop starting at ``(x0, y0)``: the same focal lengths, the principal
    point shifted by ``(-x0, -y0)`` (pixels; corner-origin convention, :mod:`.camera`)."""
    K = np.array(K, dtype=np.float64, copy=True)
    K[0, 2] -= x0
    K[1, 2] -= y0
    return K


def shift_hand(hand: HandResult, dx: float, dy: float) -> HandResult:
    """Copy of ``hand`` with its 2D fields (box, keypoints) moved by ``(dx, dy)`` pixels; 3D unchanged."""
    d = np.array([dx, dy], np.float32)
    return dataclasses.replace(hand, bbox=hand.bbox + np.tile(d, 2), keypoints_2d=hand.keypoints_2d + d)


def is_cut(box: np.ndarray, tile: tuple[int, int, int, int], frame: tuple[int, int], margin: float = CUT_MARGIN_PX) -> bool:
    """Whether ``box`` (frame pixels) touches a border of ``tile`` that is not a frame border."""
    x0, y0, x1, y1 = tile
    width, height = frame
    return bool(
        (x0 > 0 and box[0] <= x0 + margin) or (y0 > 0 and box[1] <= y0 + margin)
        or (x1 < width and box[2] >= x1 - margin) or (y1 < height and box[3] >= y1 - margin)
    )


def merge_hands(hands: list[HandResult], cut: list[bool], iou: float = MERGE_IOU,
                containment: float = MERGE_CONTAINMENT) -> list[HandResult]:
    """One report per hand out of the reports of all tiles (frame pixels), best first.

    Args:
        hands: every report, already in frame pixels.
        cut: per report, whether an inner tile border cuts it (:func:`is_cut`).
        iou, containment: duplicate thresholds (module docstring).

    Returns the kept reports in order of (not cut, descending score). Raises ``ValueError``
    when the lengths differ.
    """
    if len(hands) != len(cut):
        raise ValueError(f"{len(hands)} hands but {len(cut)} cut flags")
    if not hands:
        return []
    order = sorted(range(len(hands)), key=lambda i: (bool(cut[i]), -hands[i].score))
    boxes = np.stack([hands[i].bbox for i in order]).astype(np.float64)
    ious = box_iou(boxes, boxes)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ix = np.clip(np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1]), 0, None)
    smaller = np.minimum(area[:, None], area[None, :])
    inside = np.where(smaller > 0, ix * iy / np.where(smaller > 0, smaller, 1.0), 0.0)
    kept: list[int] = []
    for a in range(len(order)):
        if all(ious[a, b] <= iou and inside[a, b] <= containment for b in kept):
            kept.append(a)
    return [hands[order[a]] for a in kept]


def predict_tiles(backend: Any, image: np.ndarray, K: np.ndarray, spec: TileSpec) -> Prediction:
    """Run ``backend`` (an image-mode :class:`~hand_mesh_core.predictor.Predictor`) on the full
    frame and its tiles and merge the hands (frame pixels, ``K`` of the frame).

    ``timings``: ``tiles`` (number of crops run, full frame included), ``tiling`` (ms of the
    whole step), and the backend's own timings of the full frame.
    """
    t0 = time.perf_counter()
    height, width = image.shape[:2]
    tiles = plan_tiles(width, height, spec, int(backend.detector_input_side))
    crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in tiles]
    Ks = [tile_intrinsics(K, x0, y0) for x0, y0, _, _ in tiles]
    batch = getattr(backend, "predict_batch", None)
    preds = batch(crops, Ks) if batch is not None else [backend.predict(c, k) for c, k in zip(crops, Ks)]
    hands, cut = [], []
    for tile, pred in zip(tiles, preds):
        for hand in pred:
            moved = shift_hand(hand, tile[0], tile[1])
            hands.append(moved)
            cut.append(is_cut(moved.bbox, tile, (width, height)))
    merged = merge_hands(hands, cut)
    full = preds[0]
    timings = dict(full.timings)
    timings.update({"tiles": float(len(tiles)), "tiling": (time.perf_counter() - t0) * 1000.0})
    return Prediction(merged, image_size=(width, height), K=K, backend=full.backend, hand_model=full.hand_model,
                      faces=full.faces, timings=timings)


class TiledPredictor(Predictor):
    """A backend in tiled mode (module docstring); built by :func:`create_predictor` with
    ``tiles`` other than ``"off"``.

    Args:
        inner: the backend, built in image mode (``video=False``, no smoothing); it runs
            the full frame and every tile.
        tiles: a :class:`TileSpec` or its text.
        **options: the common :class:`~hand_mesh_core.predictor.Predictor` options of
            the tiled predictor itself (``video``, ``smoothing``..., ``max_hands``:
            after merging).

    Attributes the backend has and this class has not (``weights_path``, ``input_size``,
    ``runtime``, ...) are read from ``inner``.
    """

    tracks_in_predict = False

    def __init__(self, inner: Predictor, tiles: str | TileSpec, **options: Any) -> None:
        options.setdefault("device", inner.device)
        super().__init__(**options)
        self.inner = inner
        self.tiles = parse_tiles(tiles)
        self.backend = inner.backend
        self.detector_input_side = inner.detector_input_side
        self.hand_models, self.faces, self.hand_model_name = inner.hand_models, inner.faces, inner.hand_model_name

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet: construction failed or unpickling
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _predict(self, image: np.ndarray, K: np.ndarray, timestamp: float) -> Prediction:
        return predict_tiles(self.inner, image, K, self.tiles)

    def __repr__(self) -> str:
        return f"TiledPredictor({self.inner!r}, tiles={str(self.tiles)!r}, video={self.video})"


def create_tiled_predictor(backend_class: type, tiles: str | TileSpec, **options: Any) -> TiledPredictor:
    """``backend_class`` in tiled mode: the backend in image mode inside a ``TiledPredictor``.

    Stream options (``video``, ``smoothing*``) and ``max_hands`` go to the tiled predictor;
    every other option to the backend. Raises what the backend's constructor raises and
    ``ValueError`` for a bad ``tiles``.
    """
    spec = parse_tiles(tiles)
    stream_keys = ("video", "smoothing", "smoothing_min_cutoff", "smoothing_beta", "smoothing_d_cutoff")
    outer = {k: options.pop(k) for k in stream_keys if k in options}
    if "max_hands" in options:
        outer["max_hands"] = options["max_hands"]
    inner = backend_class(video=False, **options)
    return TiledPredictor(inner, spec, **outer)


__all__ = [
    "TiledPredictor",
    "create_tiled_predictor",
    "TILE_OVERLAP",
    "AUTO_TILE_FACTOR",
    "AUTO_MAX_GRID",
    "MERGE_IOU",
    "MERGE_CONTAINMENT",
    "TileSpec",
    "parse_tiles",
    "grid_for",
    "plan_tiles",
    "tile_intrinsics",
    "shift_hand",
    "is_cut",
    "merge_hands",
    "predict_tiles",
]
