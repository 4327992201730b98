"""Tiled inference: tile plans, exact mapping of a tile's hands to the frame, merging, real small hands."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.backends import create_predictor
from hand_mesh_core.predictor import Predictor
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_core.tiling import (
    TILE_OVERLAP,
    TileSpec,
    is_cut,
    merge_hands,
    parse_tiles,
    plan_tiles,
    predict_tiles,
    shift_hand,
    tile_intrinsics,
)


def _hand(points: np.ndarray, score: float = 0.9, side: str = "right", kp3d: np.ndarray | None = None) -> HandResult:
    pts = np.asarray(points, np.float32)
    kp3d = np.zeros((21, 3), np.float32) if kp3d is None else kp3d
    return HandResult(handedness=side, handedness_score=0.9, score=score, bbox=bbox_from_points(pts),
                      keypoints_2d=pts, keypoints_3d=kp3d, vertices=kp3d, pose=np.zeros(48), shape=np.zeros(10),
                      transl=np.zeros(3))


def _points(x: float, y: float, size: float) -> np.ndarray:
    rng = np.random.default_rng(int(x * 7 + y))
    return np.column_stack([x + rng.uniform(0, size, 21), y + rng.uniform(0, size, 21)])


def test_parse_tiles_accepts_the_policies_and_refuses_the_rest():
    assert parse_tiles("off") == TileSpec("off") and parse_tiles(None).mode == "off"
    assert parse_tiles("auto").mode == "auto"
    assert parse_tiles("3x2") == TileSpec("grid", (3, 2)) and str(parse_tiles("2X2")) == "2x2"
    for bad in ("1x1", "0x2", "9x1", "big", "2x"):
        with pytest.raises(ValueError, match="tiles must be"):
            parse_tiles(bad)
    with pytest.raises(ValueError, match="tiles must be"):
        create_predictor("two_stage", tiles="lots")


def test_auto_leaves_small_frames_whole_and_tiles_large_ones_with_overlap():
    for side in (192, 256):  # two_stage's palm detector, the single-stage network
        assert plan_tiles(640, 480, TileSpec("auto"), side) == [(0, 0, 640, 480)]
    tiles = plan_tiles(1920, 1080, TileSpec("auto"), 192)
    assert tiles[0] == (0, 0, 1920, 1080) and len(tiles) == 1 + 3 * 2
    grid = tiles[1:]
    assert min(t[0] for t in grid) == 0 and max(t[2] for t in grid) == 1920
    assert min(t[1] for t in grid) == 0 and max(t[3] for t in grid) == 1080
    first, second = grid[0], grid[1]  # neighbours in a row overlap by TILE_OVERLAP of a tile
    width = first[2] - first[0]
    assert first[2] - second[0] == pytest.approx(TILE_OVERLAP * width, abs=2)
    # the grid is at its largest (3x2), so 1920 px tiles stay wider than the 3.5x bound ...
    assert all(t[2] - t[0] == 768 for t in grid)
    # ... while below the cap every tile side is within it
    small = plan_tiles(1280, 720, TileSpec("auto"), 192)[1:]
    assert all(max(t[2] - t[0], t[3] - t[1]) <= 3.5 * 192 + 1 for t in small)
    assert len(plan_tiles(1280, 720, TileSpec("grid", (2, 2)), 256)) == 5


def test_a_tile_hand_maps_back_to_the_frame_exactly():
    """A 3D hand projected into the frame, and into a tile through the tile's K, gives the
    same frame keypoints after the shift, and the same metric 3D (depths unchanged)."""
    K = intrinsics_from_fov(1920, 1080)
    rng = np.random.default_rng(0)
    kp3d = np.column_stack([rng.uniform(0.3, 0.4, 21), rng.uniform(0.1, 0.15, 21), rng.uniform(1.5, 1.6, 21)])
    frame_2d = project_np(kp3d, K)
    x0, y0 = 1210, 405
    tile_2d = project_np(kp3d, tile_intrinsics(K, x0, y0))
    back = shift_hand(_hand(tile_2d, kp3d=kp3d.astype(np.float32)), x0, y0)
    np.testing.assert_allclose(back.keypoints_2d, frame_2d, atol=1e-3)
    np.testing.assert_allclose(back.bbox, bbox_from_points(frame_2d), atol=1e-3)
    np.testing.assert_array_equal(back.keypoints_3d, kp3d.astype(np.float32))


class ProjectingBackend(Predictor):
    """A backend that reports a fixed 3D hand wherever its projection lies wholly in the
    image it is given (and, to be found, covers at least ``min_px`` pixels): stands for a
    detector that needs hands large enough relative to its input."""

    backend = "projecting"
    detector_input_side = 192

    def __init__(self, kp3d: np.ndarray, min_fraction: float, **options):
        super().__init__(device="cpu", **options)
        self.kp3d, self.min_fraction, self.calls = kp3d, min_fraction, 0

    def _predict(self, image, K, timestamp):
        self.calls += 1
        h, w = image.shape[:2]
        uv = project_np(self.kp3d, K)
        box = bbox_from_points(uv)
        hands = []
        if box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h and (box[3] - box[1]) >= self.min_fraction * h:
            hands.append(_hand(uv, kp3d=self.kp3d.astype(np.float32)))
        return Prediction(hands, image_size=(w, h), K=K, backend=self.backend, hand_model="open", faces={})


def test_tiles_find_a_hand_the_full_frame_misses_and_report_it_once_in_frame_pixels():
    K = intrinsics_from_fov(1920, 1080)
    rng = np.random.default_rng(1)
    kp3d = np.column_stack([rng.uniform(-0.05, 0.0, 21), rng.uniform(-0.05, 0.0, 21), rng.uniform(1.9, 2.0, 21)])
    image = np.zeros((1080, 1920, 3), np.uint8)
    backend = ProjectingBackend(kp3d, min_fraction=0.06)  # the hand: 4 % of the frame, 7 % of a tile
    assert len(backend.predict(image, K)) == 0
    pred = predict_tiles(backend, image, K, TileSpec("grid", (3, 2)))
    assert backend.calls == 1 + 1 + 6 and pred.timings["tiles"] == 7
    assert len(pred) == 1  # seen whole by overlapping tiles, reported once
    np.testing.assert_allclose(pred[0].keypoints_2d, project_np(kp3d, K), atol=1e-3)
    assert pred.image_size == (1920, 1080)


def test_merging_removes_a_duplicate_keeps_neighbours_and_prefers_the_whole_view():
    a = _hand(_points(100, 100, 60), score=0.8)
    a_again = shift_hand(a, 1.5, -1.0)
    a_again.score = 0.7
    neighbour = _hand(_points(170, 100, 60), score=0.6)  # touching a's box, another hand
    cut_part = _hand(_points(100, 100, 30), score=0.95)  # a's left half as a cut tile saw it
    kept = merge_hands([a, a_again, neighbour, cut_part], [False, False, False, True])
    assert kept == [a, neighbour]
    # without the cut flag the high-scored partial view would win: the flag matters
    assert merge_hands([a, cut_part], [False, False])[0] is cut_part
    with pytest.raises(ValueError, match="cut flags"):
        merge_hands([a], [])


def test_is_cut_ignores_frame_borders():
    frame = (1920, 1080)
    tile = (0, 0, 800, 600)
    assert not is_cut(np.array([0.0, 0.0, 50.0, 50.0]), tile, frame)  # on the frame's own corner
    assert is_cut(np.array([760.0, 10.0, 800.0, 50.0]), tile, frame)  # at the tile's inner right edge
    assert not is_cut(np.array([1800.0, 10.0, 1920.0, 50.0]), (1100, 0, 1920, 600), frame)


def test_tiled_stream_mode_tracks_the_merged_hands():
    kp3d = np.column_stack([np.linspace(-0.05, 0.0, 21), np.linspace(-0.05, 0.0, 21), np.full(21, 1.95)])
    from hand_mesh_core.tiling import create_tiled_predictor

    class Backend(ProjectingBackend):
        def __init__(self, **options):
            super().__init__(kp3d, 0.06, **options)

    tiled = create_tiled_predictor(Backend, "3x2", video=True, max_hands=2)
    assert tiled.inner.video is False and tiled.video is True and tiled.backend == "projecting"
    ids = [tiled.predict(np.zeros((1080, 1920, 3), np.uint8), timestamp=t / 30)[0].track_id for t in range(3)]
    assert ids == [1, 1, 1]
    assert tiled.min_fraction == 0.06  # backend attributes are read through


def _pasted_real_hand(shared_data, scale: float):
    """Frame 0 of the validation set at ``scale`` in a real 1920x1080 photo (labels and K moved with it)."""
    from hand_mesh_core.bench.hand_scale import paste_sample
    from hand_mesh_core.data.readers.mmpose_coco import read_validation_subset
    from hand_mesh_core.media import load_rgb

    background = shared_data / "pool" / "4d-humans" / "example_data__images__skates.png"
    if not background.is_file():
        pytest.skip(f"{background} not found")
    sample = read_validation_subset(shared_data / "validation", "ge_realworld")[0]
    photo = cv2.resize(load_rgb(background), (1920, 1080), interpolation=cv2.INTER_AREA)
    pasted = paste_sample(sample, (1920, 1080), scale, np.random.default_rng(0), background=photo)
    hand = pasted.hands[0]
    return pasted.load_image(), pasted.K, hand.keypoints_2d, hand.box_size(), float(hand.keypoints_3d[0, 2])


def test_a_real_small_hand_in_a_large_real_photo_is_found_with_tiles_and_not_without(shared_data):
    pytest.importorskip("mediapipe", reason="the two_stage backend needs mediapipe")
    image, K, truth, size, z = _pasted_real_hand(shared_data, 0.5)

    def found(pred) -> bool:
        return any(np.linalg.norm(h.keypoints_2d - truth, axis=1).mean() < 0.2 * size for h in pred)

    assert not found(create_predictor("two_stage", device="cpu").predict(image, K))
    tiled = create_predictor("two_stage", device="cpu", tiles="auto")
    pred = tiled.predict(image, K)
    assert found(pred) and pred.timings["tiles"] == 7
    match = min(pred, key=lambda h: np.linalg.norm(h.keypoints_2d - truth, axis=1).mean())
    # metric in the frame's camera: the wrist within 15 % of the labelled depth
    assert abs(match.keypoints_3d[0, 2] - z) / z < 0.15
