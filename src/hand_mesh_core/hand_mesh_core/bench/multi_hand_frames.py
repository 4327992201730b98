"""Real test frames holding a chosen number of hands, for the hand-count benchmark.

Frames are composed from real photos (``../shared/data/images``) as *tiles of whole
scenes*: a frame of fixed size (default 1280x960) is divided into a grid of cells (default
2 x 2); a frame holding ``N`` hands fills the first cells (row by row) with photos whose
hands add up to ``N``, each photo scaled to fit its cell (aspect kept, centred, the rest
:data:`BACKGROUND` grey). Every hand keeps its arm, body and scene, and every photo has the
same scale in every frame. Scenes are the photos and their mirror images in which the
reference detector (MediaPipe HandLandmarker, :mod:`hand_mesh_core.two_stage.landmarker`)
finds hands; a scene's hands are the ones it finds there, mapped into the frame.

Which scenes fill the ``N``-hand frame is searched (:func:`select_frames`): arrangements
are tried in a fixed order (:func:`arrangements`) and the reference detector, configured
as the measured two-stage pipeline, is run on each; the first frame in which it finds
exactly the ``N`` placed hands (:func:`match_hands`) is kept, else the one where it finds
most of them. The detected and matched counts are reported with the frames.

Why not hand crops on a grid (the previous composition) - measured here with mediapipe
0.10.21 and the PyTorch twin of its palm detector (:mod:`hand_mesh_core.network.backbones.palm`),
whose scores explain MediaPipe's counts:

* MediaPipe's palm detector sees the whole frame at 192x192 pixels and was built for the
  hands of one or two people (its maintainers call many hands out of scope,
  google-ai-edge/mediapipe#4612). Hands of similar size suppress each other: a crop whose
  palm scores 0.95 alone (it is found in any of the 8 slots of a 4 x 2 grid) drops to about
  0.1 when a second hand crop sits two slots away, and neither is found. A flat, noise or
  mean-colour rectangle in that slot changes nothing; fading the second crop in (0, 25, 50,
  75, 100 % contrast) lowers the first's score 0.95, 0.94, 0.36, 0.15, 0.11; a second hand
  at half the size does not suppress it.
* Not the cause: crop borders (feathered borders: same counts), missing context (crop
  margins 1.3-3x the hand: 0-3 of 8 found), frame size (640x480 and 1280x960 give the same
  palm scores: the detector's input is the same), the threshold (0.3: 1-3 of 8). VIDEO mode
  with hands added one by one does not help either (tracked hands keep new ones from being
  detected: crop grid 1 of 8 at 0.5, 3 at 0.3; photo tiles 5 and 6).
* MediaPipe never reported more than 4 hands in the 68 web, stock, group and egocentric
  photos of ``pool/`` we ran it on.
* Whole-scene tiles, 2 x 2 at 1280x960, over the 24 orders of the four 2-hand scenes
  (two photos and their mirror images): 3-6 of 8 hands found at threshold 0.5 (at most 7 at
  0.3 or lower), 2-4 of 4, 1-2 of 2; hand crops on a grid: 0-1 of 8, 0 of 4, 0 of 2.

So the two-stage pipeline does not find 8 hands in any frame composed from these photos;
the benchmark reports how many it processed and compares on that basis.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.media import list_images, load_rgb

#: Grey level of the frame background (RGB, all channels).
BACKGROUND = 114
#: Default frame size (width, height) and cell grid (columns, rows).
FRAME_SIZE = (1280, 960)
GRID = (2, 2)
#: A detected hand matches a placed hand when its keypoints' centroid lies in the placed
#: hand's keypoint box enlarged by this fraction of the box's size on every side.
MATCH_MARGIN = 0.2

#: ``image -> [21, 2]`` keypoint arrays (pixels) of the hands a detector finds.
Detector = Callable[[np.ndarray], list[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class HandScene:
    """A photo (or its mirror image) and the hands the reference detector finds in it.

    Attributes:
        rgb: ``HxWx3 uint8`` RGB.
        source: file name, with ``" (mirrored)"`` for the mirror image.
        keypoints_2d: one float64 ``[21, 2]`` array per hand, pixels of ``rgb``.
    """

    rgb: np.ndarray
    source: str
    keypoints_2d: tuple[np.ndarray, ...]

    @property
    def hands(self) -> int:
        """Number of hands found in the scene."""
        return len(self.keypoints_2d)


@dataclasses.dataclass(frozen=True)
class ComposedFrame:
    """One benchmark frame (:func:`select_frames`).

    Attributes:
        rgb: ``HxWx3 uint8`` RGB frame.
        sources: the scenes in its cells, row by row.
        placed: float64 ``[21, 2]`` keypoints (frame pixels) of every placed hand.
        detected: hands the reference detector reports in the frame.
        matched: how many of them are placed hands (:func:`match_hands`).
        tried: arrangements evaluated to choose this one.
    """

    rgb: np.ndarray
    sources: tuple[str, ...]
    placed: tuple[np.ndarray, ...]
    detected: int
    matched: int
    tried: int

    @property
    def hands(self) -> int:
        """Hands placed in the frame."""
        return len(self.placed)


def landmarker_detector(landmarker) -> Detector:
    """A :data:`Detector` from a :class:`~hand_mesh_core.two_stage.landmarker.HandLandmarker`
    (IMAGE mode): the 2D keypoints of the hands it reports."""
    return lambda image: [h.keypoints_2d for h in landmarker.detect(image)]


def collect_scenes(images: str | Path | Sequence[str | Path], detect: Detector, mirrored: bool = True) -> list[HandScene]:
    """Scenes of real photos: each photo (sorted by name) and, if ``mirrored``, its mirror
    image, where ``detect`` finds at least one hand.

    Raises ``FileNotFoundError`` for a missing folder or file.
    """
    if isinstance(images, (str, Path)):
        folder = Path(images)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder not found: {folder}")
        paths = list_images(folder)
    else:
        paths = sorted(Path(p) for p in images)
    scenes = []
    for path in paths:
        rgb = load_rgb(path)
        versions = [(rgb, path.name)] + ([(np.ascontiguousarray(rgb[:, ::-1]), f"{path.name} (mirrored)")] if mirrored else [])
        for image, name in versions:
            hands = detect(image)
            if hands:
                scenes.append(HandScene(image, name, tuple(np.asarray(k, dtype=np.float64) for k in hands)))
    return scenes


def cell_boxes(frame_size: tuple[int, int] = FRAME_SIZE, grid: tuple[int, int] = GRID) -> list[tuple[int, int, int, int]]:
    """``(x, y, width, height)`` of each cell, row by row. Raises ``ValueError`` for a grid
    that does not fit the frame (cells smaller than 8 pixels)."""
    (width, height), (cols, rows) = frame_size, grid
    if cols < 1 or rows < 1 or width // cols < 8 or height // rows < 8:
        raise ValueError(f"grid {grid} does not fit a {width}x{height} frame")
    cw, ch = width // cols, height // rows
    return [(c * cw, r * ch, cw, ch) for r in range(rows) for c in range(cols)]


def compose(
    scenes: Sequence[HandScene], frame_size: tuple[int, int] = FRAME_SIZE, grid: tuple[int, int] = GRID
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frame with ``scenes`` in the first cells, and the placed hands' keypoints.

    Each scene is scaled by ``s = min(cell_w / W, cell_h / H)`` (area interpolation when
    shrinking) and centred in its cell; its keypoints map as ``p -> s p + offset`` (pixel
    coordinates measured from the image corner). Returns ``HxWx3 uint8`` and one float64
    ``[21, 2]`` array per hand, scene by scene. Raises ``ValueError`` for more scenes than
    cells.
    """
    cells = cell_boxes(frame_size, grid)
    if len(scenes) > len(cells):
        raise ValueError(f"{len(scenes)} scenes for {len(cells)} cells")
    width, height = frame_size
    frame = np.full((height, width, 3), BACKGROUND, np.uint8)
    placed = []
    for scene, (x, y, cw, ch) in zip(scenes, cells):
        h, w = scene.rgb.shape[:2]
        s = min(cw / w, ch / h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        tile = cv2.resize(scene.rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        ox, oy = x + (cw - nw) // 2, y + (ch - nh) // 2
        frame[oy : oy + nh, ox : ox + nw] = tile
        scale = np.array([nw / w, nh / h])
        placed += [k * scale + (ox, oy) for k in scene.keypoints_2d]
    return frame, placed


def match_hands(detected: Sequence[np.ndarray], placed: Sequence[np.ndarray], margin: float = MATCH_MARGIN) -> int:
    """How many detected hands are placed hands, one to one.

    A detection (``[21, 2]`` pixels) matches a placed hand whose keypoint box, enlarged by
    ``margin`` times its width / height on each side, contains the detection's keypoint
    centroid; each detection takes the nearest such hand (box centre) not yet taken, in
    order. Raises ``ValueError`` for a negative margin.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    boxes = []
    for p in placed:
        lo, hi = p.min(axis=0), p.max(axis=0)
        pad = margin * (hi - lo)
        boxes.append((lo - pad, hi + pad, (lo + hi) / 2))
    taken: set[int] = set()
    for d in detected:
        c = np.asarray(d, dtype=np.float64).mean(axis=0)
        inside = [i for i, (lo, hi, _) in enumerate(boxes) if i not in taken and np.all(c >= lo) and np.all(c <= hi)]
        if inside:
            taken.add(min(inside, key=lambda i: float(np.linalg.norm(boxes[i][2] - c))))
    return len(taken)


def arrangements(scenes: Sequence[HandScene], count: int, cells: int) -> Iterator[tuple[HandScene, ...]]:
    """Ordered choices of distinct scenes whose hands add up to ``count``, at most ``cells``
    of them: fewest scenes first, then ``itertools.permutations`` order of the scene list.
    Raises ``ValueError`` for ``count < 1`` or ``cells < 1``."""
    if count < 1 or cells < 1:
        raise ValueError(f"count and cells must be >= 1, got {count}, {cells}")
    for k in range(1, min(cells, len(scenes)) + 1):
        for choice in itertools.permutations(scenes, k):
            if sum(s.hands for s in choice) == count:
                yield choice


def select_frames(
    scenes: Sequence[HandScene],
    counts: Sequence[int],
    detect: Detector,
    frame_size: tuple[int, int] = FRAME_SIZE,
    grid: tuple[int, int] = GRID,
    max_tries: int = 40,
) -> dict[int, ComposedFrame]:
    """``{count: frame}``: per hand count, the arrangement in which ``detect`` finds the
    placed hands best (see the module docstring).

    Up to ``max_tries`` arrangements are evaluated per count, in :func:`arrangements`
    order; the search stops at the first frame where ``detect`` reports exactly the placed
    hands. Otherwise the frame with the most matched hands (then the fewest other
    detections, then the first) is kept. Raises ``ValueError`` when no arrangement of the
    scenes holds a requested count in the grid.
    """
    cells = grid[0] * grid[1]
    out: dict[int, ComposedFrame] = {}
    for n in counts:
        best: ComposedFrame | None = None
        tried = 0
        for choice in itertools.islice(arrangements(scenes, int(n), cells), max_tries):
            frame, placed = compose(choice, frame_size, grid)
            found = detect(frame)
            tried += 1
            matched = match_hands(found, placed)
            candidate = ComposedFrame(frame, tuple(s.source for s in choice), tuple(placed), len(found), matched, tried)
            if best is None or (matched, -(len(found) - matched)) > (best.matched, -(best.detected - best.matched)):
                best = candidate
            if matched == len(found) == n:
                break
        if best is None:
            raise ValueError(f"no arrangement of {len(scenes)} scenes ({[s.hands for s in scenes]} hands) "
                             f"holds {n} hands in {cells} cells")
        out[int(n)] = dataclasses.replace(best, tried=tried)
    return out
