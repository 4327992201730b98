"""Backbones, neck, heads, config and SingleStageNet of the single-stage network."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from hand_mesh_core.network.backbones import available_backbones, build_backbone, register_backbone
from hand_mesh_core.network.config import DEFAULTS, load_config
from hand_mesh_core.network.heads import PARAMS_PER_SIDE, PeakHead, gather_patches, split_parameters
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.network.neck import FusionNeck

# ResNet parameter counts without the classifier (torchvision's resnet18/34/50 minus fc:
# 11,689,512 - 513,000; 21,797,672 - 513,000; 25,557,032 - 2,049,000).
RESNET_PARAMS = {"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032}


@pytest.mark.parametrize("name", sorted(RESNET_PARAMS))
def test_resnet_matches_reference_layout(name):
    net = build_backbone(name, out_strides=(4, 8, 16, 32))
    assert sum(p.numel() for p in net.parameters()) == RESNET_PARAMS[name]
    expansion = 4 if name == "resnet50" else 1
    assert net.out_channels == [64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion]
    assert net.strides == [4, 8, 16, 32]


def test_resnet_features_have_declared_shapes_and_skip_unused_stages():
    net = build_backbone("resnet18", width=8, out_strides=(8, 16)).eval()
    with torch.no_grad():
        feats = net(torch.rand(2, 3, 96, 160))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 12, 20), (2, 32, 6, 10)]
    assert len(net.stages) == 3  # the stride-32 stage is not built
    with pytest.raises(ValueError, match="B, 3, H, W"):
        net(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="out_strides"):
        build_backbone("resnet18", out_strides=(2,))


def test_registry_lists_resnets_rejects_unknown_and_duplicate_names():
    assert {"resnet18", "resnet34", "resnet50"} <= set(available_backbones())
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        build_backbone("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("resnet18")(lambda **kw: None)


def test_neck_fuses_to_stride_4_in_both_upsampling_modes():
    feats = [torch.rand(2, 16, 8, 8), torch.rand(2, 32, 4, 4), torch.rand(2, 32, 2, 2)]
    for mode in ("bilinear", "deconv"):
        neck = FusionNeck([16, 32, 32], [8, 16, 32], channels=24, lateral_channels=8, upsample=mode).eval()
        out = neck(feats)
        assert out.shape == (2, 24, 16, 16)
        assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="power of two"):
        FusionNeck([16], [12])
    with pytest.raises(ValueError, match="upsample"):
        FusionNeck([16], [8], upsample="nearest")


def test_neck_normalises_each_level_so_feature_scale_does_not_matter():
    torch.manual_seed(0)
    neck = FusionNeck([8, 8], [8, 16], channels=8, lateral_channels=4).eval()
    feats = [torch.rand(1, 8, 4, 4) - 0.5, torch.rand(1, 8, 2, 2) - 0.5]
    # the lateral convs are linear with a bias; zero the bias so scaling the input scales
    # the lateral output and the L2 normalisation must cancel it
    for conv in neck.lateral:
        torch.nn.init.zeros_(conv.bias)
    with torch.no_grad():
        a = neck(feats)
        b = neck([f * 1000.0 for f in feats])
    assert torch.allclose(a, b, atol=1e-4)


def test_peak_head_equals_dense_head_gathered_at_the_cells_including_borders():
    torch.manual_seed(0)
    head = PeakHead(6, 5, 7, init_std=0.5)
    feats = torch.randn(2, 6, 5, 9)
    b = torch.tensor([0, 1, 1, 0])
    cells = torch.tensor([[0, 0], [4, 8], [2, 3], [4, 0]])
    sparse = head(feats, b, cells)
    dense = head.dense(feats)[b, :, cells[:, 0], cells[:, 1]]
    assert torch.allclose(sparse, dense, atol=1e-5)
    assert head(feats, b[:0], cells[:0]).shape == (0, 7)
    with pytest.raises(ValueError, match="outside the map"):
        gather_patches(feats, torch.tensor([0]), torch.tensor([[5, 0]]))


def test_split_parameters_picks_the_side_set():
    params = torch.arange(2 * 2 * PARAMS_PER_SIDE, dtype=torch.float32).view(2, 2 * PARAMS_PER_SIDE)
    out = split_parameters(params, torch.tensor([False, True]))
    assert out["global_orient"][0].tolist() == [0.0, 1.0, 2.0]  # left set of hand 0
    assert out["global_orient"][1].tolist() == [183.0, 184.0, 185.0]  # right set of hand 1: 122 + 61
    assert out["hand_pose"].shape == (2, 45) and out["betas"].shape == (2, 10)
    assert out["offset"][0].tolist() == [58.0, 59.0] and out["depth"].tolist() == [60.0, 243.0]
    with pytest.raises(ValueError):
        split_parameters(params[:, :100], torch.tensor([False, True]))


def test_config_defaults_overrides_and_errors(tmp_path):
    cfg = load_config("single_stage_resnet18")
    assert cfg.model.backbone.name == "resnet18" and cfg.loss.centre == DEFAULTS["loss"]["centre"]
    assert cfg.loss.keypoints_2d == 0.1 and cfg.loss.pose_prior == 1000.0 and cfg.loss.silhouette == 20.0
    cfg2 = load_config(cfg, **{"model.input_size": 384})
    assert cfg2.model.input_size == 384 and cfg.model.input_size == 256
    path = tmp_path / "c.yaml"
    path.write_text(OmegaConf.to_yaml(OmegaConf.create({"decoding": {"max_hands": 3}})))
    assert load_config(path).decoding.max_hands == 3
    with pytest.raises(ValueError, match="multiple of 32"):
        load_config(None, **{"model.input_size": 250})
    with pytest.raises(ValueError, match="invalid network config"):
        load_config({"model": {"no_such_key": 1}})
    with pytest.raises(ValueError, match="nms_kernel"):
        load_config({"decoding": {"nms_kernel": 4}})
    with pytest.raises(FileNotFoundError, match="known"):
        load_config("single_stage_nope")


def _tiny_config(**over):
    cfg = {
        "model": {
            "input_size": 64,
            "backbone": {"name": "resnet18", "options": {"width": 8}},
            "neck": {"channels": 16, "lateral_channels": 8},
            "heads": {"hidden": 16, "appearance": True, "num_vertices": 12},
        }
    }
    cfg["model"].update(over)
    return cfg


def test_single_stage_net_outputs_and_weight_file_round_trip(tmp_path):
    torch.manual_seed(0)
    net = SingleStageNet(_tiny_config()).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = net(x)
    assert out["centre"].shape == (2, 1, 16, 16)
    assert out["handedness"].shape == (2, 2, 16, 16)
    assert out["features"].shape == (2, 16, 16, 16)
    # untrained heatmaps start at the focal-loss prior (0.1), parameters near zero
    assert abs(torch.sigmoid(out["centre"]).mean().item() - 0.1) < 0.05
    b, cells = torch.tensor([0, 1]), torch.tensor([[3, 4], [15, 0]])
    params = net.parameters_at(out["features"], b, cells)
    assert params.shape == (2, 122) and params.abs().max() < 0.1
    albedo, sh = net.appearance(out["features"], b, cells)
    assert albedo.shape == (2, 12, 3) and sh.shape == (2, 27)
    assert torch.allclose(albedo.mean(dim=(0, 1)), torch.tensor([0.75, 0.55, 0.45]), atol=0.02)
    with pytest.raises(ValueError, match="64, 64"):
        net(torch.rand(1, 3, 32, 32))

    path = tmp_path / "net.safetensors"
    net.save(path)
    loaded = SingleStageNet.load(path).eval()
    assert loaded.config.model.heads.num_vertices == 12
    with torch.no_grad():
        out2 = loaded(x)
    assert torch.equal(out["centre"], out2["centre"])
    with pytest.raises(FileNotFoundError):
        SingleStageNet.load(tmp_path / "missing.safetensors")
