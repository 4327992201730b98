"""The hand-count benchmark: frame composition from real hands, target bookkeeping, and a
smoke run of ``hand-mesh bench`` on one tiny configuration (files and table columns; no
timing is asserted)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hand_mesh_core.bench.multi_hand_frames import (
    BACKGROUND,
    HandCrop,
    collect_hand_crops,
    compose_frame,
    compose_frames,
    count_detected_hands,
    slot_boxes,
    square_crop,
)
from hand_mesh_core.bench.pipelines import FLAT_TARGET, BenchResult


def test_square_crop_is_centred_on_the_keypoints_and_pads_outside():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 200
    kp = np.array([[90.0, 40.0], [110.0, 60.0]])
    crop, (x0, y0, side) = square_crop(image, kp, margin=2.0)
    assert side == 40 and (x0, y0) == (80, 30) and crop.shape == (40, 40, 3)
    assert (crop[10:30, 10:30] == 200).all() and (crop[:10] == 0).all()
    corner, (cx, cy, cside) = square_crop(image, np.array([[0.0, 0.0], [10.0, 10.0]]), margin=3.0)
    assert (cx, cy, cside) == (-10, -10, 30)
    assert (corner[:10, :10] == BACKGROUND).all() and (corner[10:, 10:] == 0).all()
    with pytest.raises(ValueError):
        square_crop(image, kp, margin=0.0)
    with pytest.raises(ValueError):
        square_crop(image, np.zeros((1, 2)), margin=1.0)


def test_frames_hold_the_first_n_crops_in_fixed_slots():
    crops = [HandCrop(np.full((50, 50, 3), 10 * (i + 1), np.uint8), f"{i}.jpg", "left", (0, 0, 50)) for i in range(8)]
    slots = slot_boxes((640, 480), (4, 2))
    assert slots[0] == (0, 0, 160, 240) and slots[5] == (160, 240, 160, 240)
    frames = compose_frames(crops, (1, 2, 4, 8))
    for n, frame in frames.items():
        assert frame.shape == (480, 640, 3)
        for i, (x, y, w, h) in enumerate(slots):
            centre = frame[y + h // 2, x + w // 2]
            assert (centre == (10 * (i + 1) if i < n else BACKGROUND)).all()
    # the same hand has the same size in every frame
    assert (frames[1][:240, :160] == frames[8][:240, :160]).all()
    with pytest.raises(ValueError):
        compose_frame(crops[:2], 3)
    with pytest.raises(ValueError):
        slot_boxes((640, 480), (200, 2))


def test_real_hand_crops_and_their_detection(shared_data):
    crops = collect_hand_crops(shared_data / "images", limit=8)
    assert len(crops) == 8
    assert [c.others_inside for c in crops] == sorted(c.others_inside for c in crops)
    assert all(c.rgb.ndim == 3 and c.rgb.shape[0] == c.rgb.shape[1] == c.box[2] for c in crops)
    detected = count_detected_hands({1: compose_frame(crops, 1), 0: compose_frame(crops, 0)})
    assert detected == {1: 1, 0: 0}  # the cleanest crop alone is found; an empty frame has none


def _stats(m, h):
    return {"median_ms": m, "p95_ms": m, "mean_ms": m, "min_ms": m, "fps": 1e3 / m, "hands": h, "stages": {}}


def _row(ms, hands, photos=None):
    return {"describe": "x", "peak_rss_mib": 1.0, "cuda_max_allocated_mib": None,
            "counts": {n: _stats(m, h) for n, m, h in zip((1, 2, 4, 8), ms, hands)},
            "photos": {p: _stats(m, h) for p, (m, h) in (photos or {}).items()}}


def test_targets_compare_only_where_the_two_stage_pipeline_found_the_hands():
    result = BenchResult(meta={}, frames_detected={}, rows={
        "single_stage/torch": _row([100, 101, 103, 110], [1, 2, 4, 8], {"a.jpg": (100, 2), "b.jpg": (100, 1)}),
        "single_stage/onnxruntime": _row([50, 60, 70, 80], [1, 2, 4, 8], {"a.jpg": (50, 2), "b.jpg": (50, 1)}),
        "two_stage": _row([40, 105, 90, 300], [1, 2, 1, 8], {"a.jpg": (70, 2), "b.jpg": (40, 1)}),
        "single_stage/tensorrt": {"error": "no CUDA"},
    })
    t = result.targets()
    assert set(t) == {"single_stage/torch", "single_stage/onnxruntime"}
    assert t["single_stage/torch"]["ratio"] == pytest.approx(1.10) and t["single_stage/torch"]["flat"]
    assert t["single_stage/onnxruntime"]["ratio"] == pytest.approx(1.6) and not t["single_stage/onnxruntime"]["flat"]
    assert FLAT_TARGET == pytest.approx(1.15)
    assert t["single_stage/torch"]["faster_than_two_stage"] == {2: True, 4: None, 8: True}
    assert t["single_stage/onnxruntime"]["faster_than_two_stage"] == {2: True, 4: None, 8: True}
    # photos: compared only where the two-stage pipeline processed two or more hands
    assert t["single_stage/torch"]["faster_on_two_hand_photos"] == {"a.jpg": False}
    assert t["single_stage/onnxruntime"]["faster_on_two_hand_photos"] == {"a.jpg": True}


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
    assert data["meta"]["omp_wait_policy"] == "PASSIVE" and set(data["frames_detected"]) == {"1", "2"}
    assert any(r["stage"] == "backbone" for r in data["profile"])
    assert data["photos_detected"] and set(data["rows"]["two_stage"]["photos"]) == set(data["photos_detected"])
    assert "Source photos as they are" in table
