"""Diagnostics: counters, latency percentiles, levels."""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Header

from hand_mesh_ros.diagnostics import NodeStats, diagnostic_array, diagnostic_values


def _array(stats, previous=None, dropped=0):
    snap = stats.snapshot(dropped, 0)
    return snap, diagnostic_array(snap, name="n: x", hardware_id="cpu", info={"backend": "two_stage"},
                                  header=Header(), previous=previous)


def test_counters_latency_and_levels():
    stats = NodeStats()
    snap, arr = _array(stats)
    assert arr.status[0].level == DiagnosticStatus.WARN and "no image" in arr.status[0].message
    for ms in range(1, 101):
        stats.on_received()
        stats.on_processed(ms / 1000.0, hands=2)
    time.sleep(0.01)
    snap, arr = _array(stats, snap, dropped=5)
    values = diagnostic_values(arr, "n: x")
    assert arr.status[0].level == DiagnosticStatus.OK and arr.status[0].hardware_id == "cpu"
    assert values["frames_received"] == "100" and values["frames_processed"] == "100"
    assert values["frames_dropped"] == "5" and values["backend"] == "two_stage"
    assert float(values["latency_p50_ms"]) == 50.5 and 95 <= float(values["latency_p95_ms"]) <= 96
    assert float(values["latency_max_ms"]) == 100.0 and values["hands_last_frame"] == "2"
    assert float(values["input_rate_hz"]) > 0
    stats.on_received()
    stats.on_malformed()
    snap2, arr = _array(stats, snap)
    assert arr.status[0].level == DiagnosticStatus.WARN and "malformed" in arr.status[0].message
    _, arr = _array(stats, snap2)  # nothing new since the last report: OK again
    assert arr.status[0].level == DiagnosticStatus.OK
    assert diagnostic_values(arr, "other") is None


def test_every_counter_has_a_meaning_and_is_documented_in_the_readme():
    from pathlib import Path

    from hand_mesh_ros.diagnostics import COUNTER_MEANINGS, NodeStats

    values = diagnostic_values(diagnostic_array(NodeStats().snapshot(0, 0), name="n", hardware_id="cpu", info={},
                                                header=Header()), "n")
    counters = {k for k in values if k.startswith(("frames_", "camera_infos_")) or k == "inference_errors"}
    assert counters == set(COUNTER_MEANINGS)
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for key, meaning in COUNTER_MEANINGS.items():
        assert f"| `{key}` | {meaning} |" in readme, key
