"""The distributed path: ``hand-mesh train`` with DDP over 2 CPU processes (gloo), a few steps."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import yaml

from test_training_smoke import tiny_config
import pytest

pytestmark = pytest.mark.slow

STEPS = 3


def test_ddp_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "ddp"
    cfg = tiny_config(run_dir, steps=STEPS)
    cfg["data"]["samples_per_epoch"] = 16
    cfg["trainer"].update({"strategy": "ddp", "devices": 2, "accelerator": "cpu"})
    cfg["checkpoint"] = {"every_n_train_steps": STEPS, "keep": 1}
    cfg["threads"] = 1
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, "-m", "hand_mesh_core.cli", "train", "--config", str(path)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # both ranks joined one gloo process group
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log, log[-3000:]
    assert "distributed_backend=gloo" in log
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == STEPS
    assert (run_dir / "single_stage.safetensors").is_file()
