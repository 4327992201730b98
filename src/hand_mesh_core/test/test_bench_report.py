"""The shared benchmark reporting helpers (hand_mesh_core.bench.report): timing loops call and
synchronise as documented, summaries and tables are exact, files are written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hand_mesh_core.bench.report import (
    cpu_name,
    latency_summary,
    machine_meta,
    markdown_table,
    median_ms,
    percentile,
    time_calls,
    write_report,
)


def test_time_calls_warms_up_then_times_each_call_between_syncs():
    events = []
    times = time_calls(lambda: events.append("call"), repeats=3, warmup=2, sync=lambda: events.append("sync"))
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert events == ["call", "call"] + ["sync", "call", "sync"] * 3
    assert median_ms(lambda: None, repeats=5) >= 0
    with pytest.raises(ValueError):
        time_calls(lambda: None, repeats=0)


def test_latency_summary_and_percentile():
    s = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert s["median_ms"] == 25.0 and s["mean_ms"] == 25.0 and s["min_ms"] == 10.0
    assert s["fps"] == pytest.approx(40.0)
    assert s["p95_ms"] == pytest.approx(np.percentile([10, 20, 30, 40], 95)) == pytest.approx(38.5)
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    for bad in ([], [0.0]):
        with pytest.raises(ValueError):
            latency_summary(bad)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_markdown_table_and_report_files(tmp_path):
    text = markdown_table(["a", "b"], [[1, "x"], ["2.5", None]], align="rl")
    assert text == "| a | b |\n|---:|---|\n| 1 | x |\n| 2.5 | None |"
    assert markdown_table(["a"], []) == "| a |\n|---|"
    with pytest.raises(ValueError):
        markdown_table(["a", "b"], [[1]])
    with pytest.raises(ValueError):
        markdown_table(["a"], [], align="c")
    md, js = write_report(tmp_path / "out", "thing", "# table\n", {"rows": [1], "path": tmp_path})
    assert md.read_text() == "# table\n"
    assert json.loads(js.read_text()) == {"rows": [1], "path": str(tmp_path)}


def test_machine_description():
    meta = machine_meta("cpu")
    assert meta["device"] == "cpu" and meta["gpu"] is None and meta["torch_threads"] >= 1
    assert meta["cpu"] == cpu_name() and cpu_name()
