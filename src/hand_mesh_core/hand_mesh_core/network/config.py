"""Configuration of the single-stage network (OmegaConf): defaults, loading, checks.

A config has three sections; a YAML file in ``hand_mesh_core/configs/`` (e.g.
``single_stage_resnet18.yaml``) overrides any subset of :data:`DEFAULTS`:

``model``
    ``input_size`` (square network input, pixels, multiple of 32), ``backbone.name`` and
    ``backbone.options`` (keyword options of the registered backbone), ``neck``
    (:class:`~hand_mesh_core.network.neck.FusionNeck` options), ``heads.hidden`` (channels
    of each head's 3x3 conv), ``heads.appearance`` (predict per-vertex albedo + SH light),
    ``heads.num_vertices`` (vertex count of the albedo head; null = the hand model's),
    ``heads.keypoint_heatmaps`` (the optional 21-channel keypoint heatmap head, ours,
    :mod:`hand_mesh_core.network.heads`),
    ``hand_model`` (``open`` / ``mano``: whose vertex count the albedo head uses),
    ``depth_ref`` (metres: the depth a zero depth term gives with a camera whose focal
    length equals the input width, about 53 degrees of horizontal field of view; the network
    divides it by ``input_size`` to get metres per network pixel, so the same value suits
    every input size; see :mod:`hand_mesh_core.network.decoding`).
``decoding``
    ``score_threshold``, ``max_hands``, ``nms_kernel`` (:func:`~hand_mesh_core.network.decoding.find_peaks`);
    ``keypoint_refinement`` (``enabled``, ``min_score``, ``window``, ``iterations``, ``damping``): the decode-time
    refinement of the hand model to the keypoint heatmaps, used only by networks that have
    that head (:mod:`hand_mesh_core.single_stage.keypoint_refinement`).
``loss``
    weight of each term of :mod:`hand_mesh_core.training.objective`. Defaults are the
    authors' (``../shared/notes/method.md``): centre x100, handedness x100, 2D keypoints
    x0.1, bone direction x100, pose prior x1000 and shape prior x1000 x 0.1, photometric
    x100, silhouette x20. ``side`` (our per-hand left/right cross-entropy,
    :func:`~hand_mesh_core.losses.heatmap.side_cross_entropy`) is x100 like the handedness
    map it sharpens. The 3D weights (joints, vertices, wrist position) are ours: the
    notes give no figure; 100 on an L1 in metres makes a 1 cm error cost 1, like the others'
    typical values at convergence. ``keypoint_heatmap`` (ours, the focal loss of the
    optional keypoint heatmap head) is x100 like the centre heatmap, as CenterNet weighs its
    joint heatmaps like its centre heatmap; it counts only for networks with that head. A
    weight of 0 disables its term.
``objective``
    ``render_size``: side (pixels) of the square images the rendering losses compare at
    (the network input is resized to it; smaller is faster on CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hand_mesh_core.paths import CONFIGS_DIR

#: Every key a config may set, with its default.
DEFAULTS: dict[str, Any] = {
    "model": {
        "input_size": 256,
        "hand_model": "open",
        "backbone": {"name": "palm", "options": {}},
        "neck": {"channels": 64, "lateral_channels": 64, "upsample": "bilinear", "l2_scale": 10.0},
        "heads": {"hidden": 64, "appearance": True, "num_vertices": None, "keypoint_heatmaps": False},
        "depth_ref": 0.5,
    },
    "decoding": {"score_threshold": 0.3, "max_hands": 8, "nms_kernel": 5,
                 "keypoint_refinement": {"enabled": True, "min_score": 0.0, "window": 0.25, "iterations": 5,
                                         "damping": 0.01}},
    "loss": {
        "centre": 100.0,
        "handedness": 100.0,
        "side": 100.0,
        "keypoints_2d": 0.1,
        "bone_direction": 100.0,
        "pose_prior": 1000.0,
        "shape_prior": 100.0,
        "photometric": 100.0,
        "silhouette": 20.0,
        "joints_3d": 100.0,
        "vertices_3d": 100.0,
        "wrist_3d": 100.0,
        "keypoint_heatmap": 100.0,
    },
    "objective": {"render_size": 128},
}

#: Name of the config used when none is given: the palm-detector backbone (real-image
#: features from the mediapipe wheel, about 1.6 M parameters, the fastest on CPU; see
#: ``python -m hand_mesh_core.bench.network``).
DEFAULT_CONFIG_NAME = "single_stage_palm"


def config_path(name: str) -> Path:
    """``configs/<name>.yaml`` of the package. Raises ``FileNotFoundError`` listing the known names."""
    path = CONFIGS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in CONFIGS_DIR.glob("single_stage*.yaml"))
        raise FileNotFoundError(f"no network config {name!r} in {CONFIGS_DIR}; known: {known}")
    return path


def load_config(source: str | Path | dict | DictConfig | None = None, **overrides: Any) -> DictConfig:
    """A complete, checked network config.

    Args:
        source: a config name (``"single_stage_resnet18"``), a YAML path, a dict or a
            DictConfig; None = :data:`DEFAULT_CONFIG_NAME`. Merged over :data:`DEFAULTS`.
        overrides: dotted keys applied last, e.g. ``**{"model.input_size": 384}``.

    Returns:
        A read-only DictConfig with every key of :data:`DEFAULTS` (free-form only under
        ``model.backbone.options``).

    Raises:
        FileNotFoundError: unknown name or missing file.
        ValueError: an unknown key or a bad value (input size not a positive multiple of 32,
            non-positive depth_ref or channels, threshold outside [0, 1], negative weight,
            even NMS kernel, unknown hand model).
    """
    base = OmegaConf.create(DEFAULTS)
    OmegaConf.set_struct(base, True)
    OmegaConf.set_struct(base.model.backbone.options, False)
    if source is None:
        source = DEFAULT_CONFIG_NAME
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix not in (".yaml", ".yml"):
            path = config_path(str(source))
        user = OmegaConf.load(path)
    else:
        user = OmegaConf.create(source if isinstance(source, dict) else OmegaConf.to_container(source))
    try:
        cfg = OmegaConf.merge(base, user)
        for key, value in overrides.items():
            OmegaConf.update(cfg, key, value, merge=True)
    except Exception as exc:  # omegaconf raises its own ConfigKeyError / ValidationError
        raise ValueError(f"invalid network config: {exc}") from exc
    _check(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _check(cfg: DictConfig) -> None:
    m = cfg.model
    if int(m.input_size) <= 0 or int(m.input_size) % 32:
        raise ValueError(f"model.input_size must be a positive multiple of 32, got {m.input_size}")
    if m.hand_model not in ("open", "mano"):
        raise ValueError(f"model.hand_model must be 'open' or 'mano', got {m.hand_model!r}")
    if float(m.depth_ref) <= 0:
        raise ValueError(f"model.depth_ref must be positive, got {m.depth_ref}")
    for key in ("channels", "lateral_channels"):
        if int(m.neck[key]) <= 0:
            raise ValueError(f"model.neck.{key} must be positive, got {m.neck[key]}")
    if int(m.heads.hidden) <= 0:
        raise ValueError(f"model.heads.hidden must be positive, got {m.heads.hidden}")
    d = cfg.decoding
    if not 0.0 <= float(d.score_threshold) <= 1.0:
        raise ValueError(f"decoding.score_threshold must be in [0, 1], got {d.score_threshold}")
    if int(d.max_hands) < 1:
        raise ValueError(f"decoding.max_hands must be >= 1, got {d.max_hands}")
    if int(d.nms_kernel) < 1 or int(d.nms_kernel) % 2 == 0:
        raise ValueError(f"decoding.nms_kernel must be a positive odd integer, got {d.nms_kernel}")
    r = d.keypoint_refinement
    if not 0.0 <= float(r.min_score) <= 1.0 or not float(r.window) > 0:
        raise ValueError(f"decoding.keypoint_refinement needs min_score in [0, 1] and window > 0, got {r.min_score}, {r.window}")
    if int(r.iterations) < 1:
        raise ValueError(f"decoding.keypoint_refinement.iterations must be >= 1, got {r.iterations}")
    if not float(r.damping) > 0:
        raise ValueError(f"decoding.keypoint_refinement.damping must be > 0, got {r.damping}")
    if int(cfg.objective.render_size) <= 0:
        raise ValueError(f"objective.render_size must be positive, got {cfg.objective.render_size}")
    for key, weight in cfg.loss.items():
        if float(weight) < 0:
            raise ValueError(f"loss.{key} must be >= 0, got {weight}")


def config_to_yaml(cfg: DictConfig) -> str:
    """The config as YAML text (stored in weight files so they describe their network)."""
    return OmegaConf.to_yaml(cfg, resolve=True)
