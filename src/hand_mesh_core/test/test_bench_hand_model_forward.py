"""The HandModel forward benchmark: a smoke run of every mode (rows, columns, the Markdown
file; no timing is asserted) and its argument checks."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hand_mesh_core.bench import hand_model_forward


def test_every_mode_is_measured_per_batch():
    rows = hand_model_forward.run(threads=1, repeats=2, warmup=1, batches=(1, 3), dtype="float64")
    modes = ["mesh", "keypoints", "keypoints fwd+bwd", "keypoints + Jacobian"]
    assert [(r["batch"], r["mode"]) for r in rows] == [(b, m) for b in (1, 3) for m in modes]
    assert all(r["ms"] > 0 and r["cpu_ms"] >= 0 for r in rows)
    text = hand_model_forward.table(rows, "header")
    assert text.count("\n| 3 | ") == 4 and "CPU time (ms)" in text
    with pytest.raises(ValueError, match="dtype"):
        hand_model_forward.run(batches=(1,), dtype="float16")


def test_cli_writes_the_table_and_rejects_bad_batches(tmp_path):
    import typer

    app = typer.Typer()
    app.command()(hand_model_forward.main)
    out = tmp_path / "forward.md"
    result = CliRunner().invoke(app, ["--out", str(out), "--threads", "1", "--repeats", "1", "--warmup", "1",
                                      "--batches", "2"])
    assert result.exit_code == 0, result.output
    assert "| 2 | keypoints + Jacobian |" in out.read_text()
    bad = CliRunner().invoke(app, ["--out", str(out), "--batches", "0,x"])
    assert bad.exit_code != 0 and "batches" in bad.output
