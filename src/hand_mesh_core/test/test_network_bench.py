"""The network benchmark's planted hand counts and table (hand_mesh_core.bench.network); no timing asserted."""

from __future__ import annotations

import pytest

from hand_mesh_core.bench.network import measure, planted_maps, to_markdown
from hand_mesh_core.network.decoding import find_peaks


@pytest.mark.parametrize("count", [1, 8, 9])
def test_planted_maps_hold_exactly_count_separated_peaks(count):
    centre, handed = planted_maps(2, 16, count, "cpu")
    peaks = find_peaks(centre, 0.5, 32, nms_kernel=5)
    assert peaks.batch_index.tolist().count(0) == count and peaks.batch_index.tolist().count(1) == count
    sides = handed[0, :, peaks.cells[:count, 0], peaks.cells[:count, 1]].argmax(0)
    assert 0 < int(sides.sum()) < count or count == 1  # both sides present


def test_measure_reports_every_column_for_a_small_input():
    row = measure("single_stage_palm", 64, "cpu", repeats=1, warmup=1)
    assert row["params_m"] > 1.0 and row["gflops"] > 0
    assert row["ms_1"] > 0 and row["ms_8"] > 0 and row["ratio_8_1"] == row["ms_8"] / row["ms_1"]
    table = to_markdown([row, {"config": "x", "input": 64, "error": "backbone 'x' not available"}],
                        {"device": "cpu", "cpu": "test", "torch_threads": 1, "repeats": 1})
    assert "| single_stage_palm | palm | 64 |" in table and "not available" in table
