"""The hand-count benchmark: frame composition from whole real photos (geometry, matching,
arrangements, the search on real photos with the real reference detector), target
bookkeeping, and a smoke run of ``hand-mesh bench`` on one tiny configuration (files and
table columns; no timing is asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hand_mesh_core.bench.multi_hand_frames import (
    BACKGROUND,
    HandScene,
    arrangements,
    cell_boxes,
    collect_scenes,
    compose,
    landmarker_detector,
    match_hands,
    select_frames,
)
from hand_mesh_core.bench.pipelines import FLAT_TARGET, BenchResult, compare_with_two_stage


def _scene(width, height, colour, hands, name="s"):
    """A flat-coloured scene with ``hands`` fake hands: keypoints on a bright 3x3 block each."""
    rgb = np.full((height, width, 3), colour, np.uint8)
    kps = []
    for i in range(hands):
        u, v = 10 + 20 * i, height // 2
        rgb[v - 1 : v + 2, u - 1 : u + 2] = 255
        kps.append(np.tile([float(u) + 0.5, float(v) + 0.5], (21, 1)) + np.linspace(-0.5, 0.5, 21)[:, None])
    return HandScene(rgb, name, tuple(kps))


def test_scenes_fill_the_cells_row_by_row_and_their_keypoints_follow():
    assert cell_boxes((1280, 960), (2, 2)) == [(0, 0, 640, 480), (640, 0, 640, 480), (0, 480, 640, 480),
                                               (640, 480, 640, 480)]
    wide, tall = _scene(200, 100, 60, 2, "wide"), _scene(100, 200, 90, 1, "tall")
    frame, placed = compose([wide, tall], (400, 400), (2, 2))
    assert frame.shape == (400, 400, 3) and len(placed) == 3
    # wide scene: scaled x1 (200x100 fits a 200x200 cell), centred vertically; tall: x1, centred horizontally
    assert (frame[50:150, 0:200] != BACKGROUND).all(axis=2).mean() > 0.99 and (frame[0:50, 0:200] == BACKGROUND).all()
    assert (frame[0:200, 250:350] != BACKGROUND).all(axis=2).mean() > 0.99 and (frame[:, 200:250] == BACKGROUND).all()
    assert (frame[200:] == BACKGROUND).all()  # the cells left empty
    for kp in placed:  # every mapped keypoint centre lands on its bright block
        u, v = kp.mean(axis=0)
        assert (frame[int(v), int(u)] == 255).all()
    big, _ = compose([_scene(800, 400, 60, 1)], (400, 400), (2, 2))  # shrunk x0.25 into its cell
    assert (big[50:150, 0:200] == 60).mean() > 0.9
    with pytest.raises(ValueError):
        compose([wide] * 5, (400, 400), (2, 2))
    with pytest.raises(ValueError):
        cell_boxes((40, 40), (8, 1))


def test_detections_match_placed_hands_one_to_one():
    hand = np.stack([np.linspace(100, 140, 21), np.linspace(200, 260, 21)], axis=1)
    other = hand + (300, 0)
    assert match_hands([hand, other], [hand, other]) == 2
    assert match_hands([hand + 5, hand - 5], [hand, other]) == 1  # two detections of one hand count once
    assert match_hands([hand + (100, 0)], [hand, other]) == 0  # between the hands: neither
    assert match_hands([hand + (45, 0)], [hand, other], margin=0.2) == 0
    assert match_hands([hand + (45, 0)], [hand, other], margin=1.0) == 1
    assert match_hands([], [hand]) == 0
    with pytest.raises(ValueError):
        match_hands([hand], [hand], margin=-1)


def test_arrangements_add_up_to_the_count_fewest_scenes_first():
    a, b, c, d = (_scene(50, 50, 0, n, name) for n, name in zip((1, 2, 2, 1), "abcd"))
    four = [tuple(s.source for s in x) for x in arrangements([a, b, c, d], 4, cells=4)]
    assert four[:2] == [("b", "c"), ("c", "b")]  # two 2-hand scenes before 2 + 1 + 1
    assert all(sum({"a": 1, "b": 2, "c": 2, "d": 1}[n] for n in x) == 4 for x in four)
    assert len(set(four)) == len(four) and all(len(set(x)) == len(x) for x in four)
    assert list(arrangements([a, d], 4, cells=4)) == []
    with pytest.raises(ValueError, match="holds 4 hands"):
        select_frames([a, d], (4,), detect=lambda image: [])


def test_real_photos_give_frames_where_the_reference_detector_finds_the_placed_hands(shared_data):
    from hand_mesh_core.two_stage.landmarker import HandLandmarker

    landmarker = HandLandmarker(max_hands=2, min_detection_confidence=0.5, min_presence_confidence=0.5)
    try:
        detect = landmarker_detector(landmarker)
        scenes = collect_scenes(shared_data / "images", detect)
        assert {"hamer_test1.jpg", "hamer_test1.jpg (mirrored)", "acr_magic.jpg"} <= {s.source for s in scenes}
        assert all(1 <= s.hands <= 2 for s in scenes)
        frames = select_frames(scenes, (1, 2), detect)
    finally:
        landmarker.close()
    for n, f in frames.items():
        assert f.rgb.shape == (960, 1280, 3) and f.hands == n
        assert f.detected == f.matched == n, (n, f.sources, f.detected, f.matched)  # measured: found on the 1st try
        assert 1 <= f.tried <= 40


def test_compare_with_two_stage():
    assert compare_with_two_stage(50, 60, 2, 2) == "yes" and compare_with_two_stage(70, 60, 2, 2) == "no"
    assert compare_with_two_stage(50, 60, 6, 8) == "yes (lower bound)"  # two_stage would need longer for 8
    assert compare_with_two_stage(70, 60, 6, 8) == "undecided"
    with pytest.raises(ValueError):
        compare_with_two_stage(1, 1, -1, 2)


def _stats(m, h):
    return {"median_ms": m, "p95_ms": m, "mean_ms": m, "min_ms": m, "fps": 1e3 / m, "hands": h, "stages": {}}


def _row(ms, hands, photos=None):
    return {"describe": "x", "peak_rss_mib": 1.0, "cuda_max_allocated_mib": None,
            "counts": {n: _stats(m, h) for n, m, h in zip((1, 2, 4, 8), ms, hands)},
            "photos": {p: _stats(m, h) for p, (m, h) in (photos or {}).items()}}


def test_targets_compare_where_the_two_stage_pipeline_found_the_hands_and_bound_it_elsewhere():
    result = BenchResult(meta={}, frames={}, rows={
        "single_stage/torch": _row([100, 101, 103, 110], [1, 2, 4, 8], {"a.jpg": (100, 2), "b.jpg": (100, 1)}),
        "single_stage/onnxruntime": _row([50, 60, 70, 80], [1, 2, 4, 8], {"a.jpg": (50, 2), "b.jpg": (50, 1)}),
        "two_stage": _row([40, 105, 90, 300], [1, 2, 1, 6], {"a.jpg": (70, 2), "b.jpg": (40, 1)}),
        "single_stage/tensorrt": {"error": "no CUDA"},
    })
    t = result.targets()
    assert set(t) == {"single_stage/torch", "single_stage/onnxruntime"}
    assert t["single_stage/torch"]["ratio"] == pytest.approx(1.10) and t["single_stage/torch"]["flat"]
    assert t["single_stage/onnxruntime"]["ratio"] == pytest.approx(1.6) and not t["single_stage/onnxruntime"]["flat"]
    assert FLAT_TARGET == pytest.approx(1.15)
    verdicts = {n: v["verdict"] for n, v in t["single_stage/torch"]["faster_than_two_stage"].items()}
    assert verdicts == {2: "yes", 4: "undecided", 8: "yes (lower bound)"}
    verdicts = {n: v["verdict"] for n, v in t["single_stage/onnxruntime"]["faster_than_two_stage"].items()}
    assert verdicts == {2: "yes", 4: "yes (lower bound)", 8: "yes (lower bound)"}
    assert t["single_stage/torch"]["faster_than_two_stage"][8]["two_stage_hands"] == 6
    # photos: compared only where the two-stage pipeline processed two or more hands
    assert t["single_stage/torch"]["faster_on_two_hand_photos"] == {"a.jpg": False}
    assert t["single_stage/onnxruntime"]["faster_on_two_hand_photos"] == {"a.jpg": True}


@pytest.mark.slow
def test_bench_smoke_run_writes_table_json_plot_and_frames(shared_data, tmp_path):
    from typer.testing import CliRunner

    from hand_mesh_core.cli import app
    from hand_mesh_core.testing import tiny_single_stage_weights

    weights = tiny_single_stage_weights(tmp_path / "tiny.safetensors")
    out = tmp_path / "bench"
    result = CliRunner().invoke(app, [
        "bench", "--out", str(out), "--runtimes", "torch,tensorrt", "--counts", "1,2", "--repeats", "1",
        "--warmup", "0", "--weights", str(weights), "--frame-size", "320x240",
    ])
    assert result.exit_code == 0, result.output
    for name in ("bench.md", "bench.json", "bench.png", "frames.png"):
        assert (out / name).stat().st_size > 0
    table = (out / "bench.md").read_text()
    assert ("| pipeline | runtime | hands in frame | hands returned | median ms | p95 ms | fps | "
            "stages (median ms) | peak RSS MiB |") in table
    data = json.loads((out / "bench.json").read_text())
    assert set(data["rows"]) == {"single_stage/torch", "single_stage/tensorrt", "two_stage"}
    torch_row = data["rows"]["single_stage/torch"]
    assert set(torch_row["counts"]) == {"1", "2"} and torch_row["peak_rss_mib"] > 0
    assert {"network", "decode"} <= set(torch_row["counts"]["1"]["stages"])
    assert set(data["rows"]["two_stage"]["counts"]["1"]["stages"]) == {"landmarks", "fitting"}
    if torch.cuda.is_available():
        assert "counts" in data["rows"]["single_stage/tensorrt"] or "error" in data["rows"]["single_stage/tensorrt"]
    else:
        assert "error" in data["rows"]["single_stage/tensorrt"]  # reported as unavailable, with the reason
    assert data["meta"]["omp_wait_policy"] == "PASSIVE" and set(data["frames"]) == {"1", "2"}
    for n, frame in data["frames"].items():
        assert frame["hands"] == int(n) and 0 <= frame["matched"] <= frame["detected"] and frame["sources"]
    assert data["meta"]["two_stage_threshold"] == 0.5 and data["meta"]["grid"] == [2, 2]
    assert "placed (" in table and "found" in table  # the frames' detected counts are in the table's header
    assert any(r["stage"] == "backbone" for r in data["profile"])
    assert data["photos_detected"] and set(data["rows"]["two_stage"]["photos"]) == set(data["photos_detected"])
    assert "Source photos as they are" in table
