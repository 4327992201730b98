"""CPU training smoke test: a few Lightning steps on a tiny config, loss decreases, checkpoints resume,
the exported fp16 weights load in the single_stage predictor."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from hand_mesh_core.training.config import load_train_config

STEPS = 30


def tiny_config(run_dir: Path, steps: int = STEPS, **extra) -> dict:
    """A network and data small enough for seconds of CPU: 64x64 input, synthetic images."""
    cfg = {
        "network": {
            "config": "single_stage_resnet18",
            "overrides": {
                "model": {"input_size": 64, "backbone": {"name": "resnet18", "options": {"width": 8}},
                          "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": False}},
                "loss": {"photometric": 0.0, "silhouette": 0.0, "vertices_3d": 0.0},
            },
        },
        "data": {
            "batch_size": 4, "num_workers": 0, "samples_per_epoch": 8, "seed": 0,
            # a fixed set of 8 images without augmentation: the loss must fall on it
            "sources": [{"name": "synthetic", "kind": "synthetic", "augment": {"enabled": False},
                         "options": {"length": 8, "image_size": [64, 64], "background_folders": [],
                                     "hand_count_weights": [0.0, 1.0, 1.0], "hand_size": [0.4, 0.7]}}],
        },
        "optim": {"lr": 3e-3, "warmup_steps": 2, "schedule": "constant", "backbone_lr_scale": 1.0},
        "trainer": {"max_steps": steps, "accelerator": "cpu", "devices": 1, "log_every_n_steps": 1,
                    "enable_progress_bar": False, "enable_model_summary": False},
        "checkpoint": {"every_n_train_steps": 10, "keep": 2},
        "output": {"dir": str(run_dir)},
        "seed": 0,
    }
    for key, value in extra.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


def _losses(run_dir: Path, session: int = -1) -> dict[int, float]:
    """``{step: train/loss}`` of one training session's CSV log (the last by default)."""
    sessions = sorted((run_dir / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1]))
    with open(sessions[session] / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from hand_mesh_core.training.run import train

    run_dir = tmp_path_factory.mktemp("run")
    result = train(load_train_config(tiny_config(run_dir)))
    return run_dir, result


@pytest.mark.slow
def test_loss_decreases_and_checkpoints_are_written(trained):
    run_dir, result = trained
    assert result.global_step == STEPS
    losses = _losses(run_dir)
    values = [losses[k] for k in sorted(losses)]
    assert len(values) >= STEPS - 1 and np.isfinite(values).all()
    first, last = np.mean(values[:5]), np.mean(values[-5:])
    assert last < 0.5 * first, f"loss {first:.1f} -> {last:.1f}"
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and f"step={STEPS}.ckpt" in ckpts
    assert len([c for c in ckpts if c.startswith("step=")]) == 2  # keep: 2
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / "config.yaml").is_file()


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint(trained, tmp_path):
    import shutil

    from hand_mesh_core.training.run import train

    run_dir, _ = trained
    copy = tmp_path / "resumed"
    shutil.copytree(run_dir, copy)
    result = train(load_train_config(tiny_config(copy, steps=STEPS + 6)), resume=True)
    assert result.global_step == STEPS + 6
    steps = sorted(_losses(copy))  # the new session's log
    assert steps[0] >= STEPS  # no step before the checkpoint was run again
    assert len(_losses(copy, session=0)) >= STEPS - 1  # the first session's log is kept
    state = torch.load(copy / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == STEPS + 6


def test_exported_fp16_weights_load_in_the_predictor(trained):
    from safetensors import safe_open

    from hand_mesh_core.backends import create_predictor
    from hand_mesh_core.training.weights_export import read_provenance

    run_dir, result = trained
    with safe_open(str(result.weights), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
        meta = f.metadata()
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    assert meta["format"] == "hand_mesh.single_stage/1" and "input_size: 64" in meta["config"]
    assert read_provenance(result.weights)["global_step"] == STEPS
    predictor = create_predictor("single_stage", weights=result.weights, device="cpu", score_threshold=0.0, max_hands=2)
    image = np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)
    prediction = predictor.predict(image)
    assert len(prediction) == 2 and prediction[0].vertices.shape[1] == 3


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match="sources"):
        load_train_config({"data": {"sources": []}})
    with pytest.raises(ValueError, match="unknown training config sections"):
        load_train_config({"model": {}})
    with pytest.raises(ValueError, match="schedule"):
        load_train_config(tiny_config(tmp_path, optim={"schedule": "linear"}))
    with pytest.raises(FileNotFoundError):
        load_train_config("no_such_config")
    cfg = load_train_config("palm_cpu", ["trainer.max_steps=7", "paths.pseudo=/data/p"])
    assert cfg.trainer.max_steps == 7 and cfg.data.sources[1].options.root == "/data/p"


def test_time_budget_anneals_the_learning_rate():
    from hand_mesh_core.training.module import lr_factor

    f = lr_factor(warmup=10, total=1000, schedule="cosine", min_ratio=0.1, budget_s=100.0)
    assert f(0) == pytest.approx(0.1) and f(10) == pytest.approx(1.0)
    f.elapsed_s, f.last_call = 100.0, None  # the wall-clock budget is used up at step 20
    assert f(20) == pytest.approx(0.1)
    g = lr_factor(warmup=0, total=100, schedule="cosine", min_ratio=0.0)
    assert g(50) == pytest.approx(0.5) and g(100) == pytest.approx(0.0)


def test_operating_threshold_folded_into_the_export_finds_the_same_hands_at_the_default(trained, tmp_path):
    from hand_mesh_core.backends import create_predictor
    from hand_mesh_core.training.weights_export import export_checkpoint, read_provenance

    run_dir, _ = trained
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    plain = export_checkpoint(checkpoint, tmp_path / "plain.safetensors", fp16=False)
    image = np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    scores = [h.score for h in create_predictor("single_stage", weights=plain, device="cpu", score_threshold=0.0,
                                                  max_hands=8).predict(image)]
    assert len(scores) >= 2
    best, second = sorted(scores, reverse=True)[:2]
    assert best > second
    t = (best + second) / 2  # between the two best peaks: keeps exactly one
    folded = export_checkpoint(checkpoint, tmp_path / "folded.safetensors", fp16=False, operating_threshold=t)
    assert read_provenance(folded)["operating_threshold_folded"] == pytest.approx(t)
    at_t = create_predictor("single_stage", weights=plain, device="cpu", score_threshold=t, max_hands=8).predict(image)
    at_half = create_predictor("single_stage", weights=folded, device="cpu", max_hands=8).predict(image)
    assert len(at_t) == len(at_half) == 1
    np.testing.assert_allclose(at_half[0].keypoints_2d, at_t[0].keypoints_2d, atol=1e-3)
    logit = np.log(best / (1 - best)) - np.log(t / (1 - t))  # the score moved by -logit(t)
    assert at_half[0].score == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-4)
    assert at_half[0].score >= 0.5 and at_t[0].score == pytest.approx(best, abs=1e-6)
    with pytest.raises(ValueError, match="operating threshold"):
        export_checkpoint(checkpoint, tmp_path / "bad.safetensors", operating_threshold=1.0)


def test_decoding_overrides_are_written_into_the_export_and_typos_refused(trained, tmp_path):
    from hand_mesh_core.network.model import SingleStageNet
    from hand_mesh_core.single_stage.keypoint_refinement import RefinementSettings
    from hand_mesh_core.training.weights_export import export_checkpoint, read_provenance

    run_dir, result = trained
    ckpt = sorted((run_dir / "checkpoints").glob("*.ckpt"))[-1]
    out = export_checkpoint(ckpt, tmp_path / "w.safetensors",
                            decoding=["keypoint_refinement.enabled=false", "keypoint_refinement.iterations=3",
                                      "keypoint_refinement.damping=0.05", "max_hands=5"])
    cfg = SingleStageNet.load(out).config.decoding
    assert (cfg.keypoint_refinement.enabled, cfg.keypoint_refinement.iterations, cfg.max_hands) == (False, 3, 5)
    # the refiner built from the file's settings uses them
    refiner_settings = RefinementSettings.from_config(SingleStageNet.load(out).config)
    assert (refiner_settings.iterations, refiner_settings.damping) == (3, pytest.approx(0.05))
    assert read_provenance(out)["decoding_overrides"][-1] == "max_hands=5"
    for bad in (["keypoint_refinment.enabled=true"], ["max_hands=0"], ["max_hands"],
                ["keypoint_refinement.damping=0"]):
        with pytest.raises(ValueError):
            export_checkpoint(ckpt, tmp_path / "bad.safetensors", decoding=bad)
