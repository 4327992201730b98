"""Export of the single-stage network to ONNX with decoding-friendly outputs.

The exported graph is the network only: backbone, fusion neck and heads. Everything after
it (peaks by max-pool NMS and threshold, handedness, gathering the parameters at the peaks,
the metric wrist through the real intrinsics, the hand model) stays in
:mod:`hand_mesh_core.network.decoding` and runs on the outputs of any runtime, so every
runtime decodes identically.

Graph interface (also written into the file's metadata, see :func:`read_onnx_info`):

``images`` input
    ``[B, 3, S, S]`` float32 RGB in ``[0, 1]``, the letterboxed image
    (:mod:`hand_mesh_core.network.letterbox`, padding 0); ``B`` is dynamic, ``S`` is the
    config's ``model.input_size``.
``centre`` output
    ``[B, 1, S/4, S/4]`` float32 centre-heatmap logits (decoding applies the sigmoid).
``handedness`` output
    ``[B, 2, S/4, S/4]`` float32 handedness logits, channel 0 left, 1 right.
``params`` output
    ``[B, 122, S/4, S/4]`` float32: both 61-number parameter sets (left ``0:61``, right
    ``61:122``; layout :data:`hand_mesh_core.network.heads.PARAM_SLICES`) at every cell.
``keypoint_heatmaps`` output (only networks with the keypoint heatmap head)
    ``[B, 21, S/4, S/4]`` float32 keypoint-heatmap logits, for the decode-time refinement
    (:mod:`hand_mesh_core.single_stage.keypoint_refinement`).

The per-hand parameter head, which PyTorch evaluates only at the peaks
(:class:`hand_mesh_core.network.heads.PeakHead`), is exported dense
(:meth:`PeakHead.dense`: the same 3x3 conv + ReLU + 1x1 conv at every cell), because a
graph with a data-dependent number of hands is awkward for TensorRT; gathering a dense map
at a peak equals evaluating the head there. The albedo / lighting head is not exported: it
serves training (the photometric loss), and no result field needs it.

Exporter: PyTorch's TorchScript-based ``torch.onnx.export(..., dynamo=False)``. The newer
``torch.export``-based exporter needs the ``onnxscript`` package, which is not a
dependency of this project; the graph here (convolutions, PReLU, pads, max-pool, bilinear
resize, L2 normalisation) is plain and traces exactly. Opset 17 or newer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hand_mesh_core.network.config import config_to_yaml
from hand_mesh_core.network.heads import NUM_KEYPOINTS, PARAM_SLICES, PARAMS_PER_SIDE, SIDES
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.model_files import ModelFileError, reading
from hand_mesh_core.single_stage.runtimes.artefact_cache import default_cache_dir, file_sha256, text_sha256, write_atomically

#: ``hand_mesh.format`` metadata value of the files written here.
LOG = logging.getLogger(__name__)

ONNX_FORMAT = "hand_mesh.single_stage.onnx/1"
#: Opset written by default, and the oldest accepted.
DEFAULT_OPSET = 17
MIN_OPSET = 17
INPUT_NAME = "images"
#: Outputs every exported model has, in graph order.
OUTPUT_NAMES = ("centre", "handedness", "params")
#: Output a network with the keypoint heatmap head adds after :data:`OUTPUT_NAMES`.
KEYPOINT_OUTPUT = "keypoint_heatmaps"
#: Channels of each output.
OUTPUT_CHANNELS = {"centre": 1, "handedness": 2, "params": 2 * PARAMS_PER_SIDE, KEYPOINT_OUTPUT: NUM_KEYPOINTS}


def output_names(net: SingleStageNet) -> tuple[str, ...]:
    """The graph outputs of ``net``: :data:`OUTPUT_NAMES`, plus :data:`KEYPOINT_OUTPUT` when it
    has the keypoint heatmap head."""
    return OUTPUT_NAMES + ((KEYPOINT_OUTPUT,) if net.heads.keypoints is not None else ())


class DenseOutputs(nn.Module):
    """A :class:`SingleStageNet` with dense outputs: ``images -> (centre, handedness, params)``
    (and ``keypoint_heatmaps`` last when the network has that head, :func:`output_names`).

    Shapes as in the module docstring. Shares (does not copy) the network's modules.
    """

    def __init__(self, net: SingleStageNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(images)
        dense = (out["centre"], out["handedness"], self.net.heads.params.dense(out["features"]))
        return dense + ((out[KEYPOINT_OUTPUT],) if KEYPOINT_OUTPUT in out else ())


@dataclasses.dataclass(frozen=True)
class OnnxModelInfo:
    """What an exported file says about itself (its ``metadata_props``).

    Attributes:
        path: the ONNX file.
        input_size: side ``S`` of the square input, pixels.
        stride: network-input pixels per output cell (4).
        depth_ref: metres per network-input pixel at a zero depth term (``SingleStageNet.depth_ref``).
        nms_kernel, score_threshold, max_hands: the config's decoding defaults.
        hand_model: ``"open"`` or ``"mano"`` (the model the network was trained with).
        config_yaml: the complete network config (YAML).
        weights_sha256: SHA-256 of the weights file it was exported from ("" if unknown).
        opset: the default-domain opset of the graph.
        outputs: the graph's output names (:data:`OUTPUT_NAMES`, with
            :data:`KEYPOINT_OUTPUT` last for networks with the keypoint heatmap head).
    """

    path: Path
    input_size: int
    stride: int
    depth_ref: float
    nms_kernel: int
    score_threshold: float
    max_hands: int
    hand_model: str
    config_yaml: str
    weights_sha256: str
    opset: int
    outputs: tuple[str, ...] = OUTPUT_NAMES


def _metadata(net: SingleStageNet, weights_sha256: str) -> dict[str, str]:
    cfg = net.config
    s = net.input_size
    h = s // net.stride
    layout = {
        "sides": list(SIDES),
        "params_per_side": PARAMS_PER_SIDE,
        "slices": {k: [v.start, v.stop] for k, v in PARAM_SLICES.items()},
    }
    return {
        "hand_mesh.format": ONNX_FORMAT,
        "hand_mesh.input": f"{INPUT_NAME} [B, 3, {s}, {s}] float32 RGB in [0, 1], letterboxed with padding 0",
        "hand_mesh.outputs": (
            f"centre [B, 1, {h}, {h}] logits; handedness [B, 2, {h}, {h}] logits (0 left, 1 right); "
            f"params [B, {2 * PARAMS_PER_SIDE}, {h}, {h}] (left 0:61, right 61:122)"
            + (f"; {KEYPOINT_OUTPUT} [B, {NUM_KEYPOINTS}, {h}, {h}] logits" if net.heads.keypoints is not None else "")
        ),
        "hand_mesh.param_layout": json.dumps(layout),
        "hand_mesh.input_size": str(s),
        "hand_mesh.stride": str(net.stride),
        "hand_mesh.depth_ref": repr(float(net.depth_ref)),
        "hand_mesh.nms_kernel": str(int(cfg.decoding.nms_kernel)),
        "hand_mesh.score_threshold": repr(float(cfg.decoding.score_threshold)),
        "hand_mesh.max_hands": str(int(cfg.decoding.max_hands)),
        "hand_mesh.hand_model": str(cfg.model.hand_model),
        "hand_mesh.config": config_to_yaml(cfg),
        "hand_mesh.weights_sha256": weights_sha256,
        "hand_mesh.exporter": f"torch {torch.__version__} (TorchScript-based torch.onnx.export)",
    }


def export_onnx(
    net: SingleStageNet,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    weights_sha256: str = "",
) -> Path:
    """Write ``net`` as an ONNX file with the interface of the module docstring.

    Args:
        net: the network (any device; exported on the CPU in float32, eval mode; its own
            device and training mode are restored afterwards).
        path: the ``.onnx`` file to write (parent folders are created).
        opset: ONNX opset, ``>= MIN_OPSET``.
        weights_sha256: recorded in the metadata (which weights file this came from).

    Returns:
        ``path``. The model passes ``onnx.checker.check_model``.

    Raises:
        ValueError: ``opset`` below :data:`MIN_OPSET`.
    """
    import onnx

    if int(opset) < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    path = Path(path)
    first = next(net.parameters())
    device, dtype = first.device, first.dtype
    was_training = net.training
    wrapper = DenseOutputs(net).to("cpu").float().eval()
    s = net.input_size
    example = torch.rand(2, 3, s, s, generator=torch.Generator().manual_seed(0))
    names = output_names(net)
    dynamic = {name: {0: "batch"} for name in (INPUT_NAME, *names)}

    def write(tmp: Path) -> None:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript-based exporter announces its own deprecation on every call, and
            # the tracer warns about Python-level shape checks (input validation, "SAME"
            # padding), which are constants for the fixed input size; parity with PyTorch is
            # what is checked instead (tests, `hand-mesh export`).
            warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=r".*feature will be removed.*")
            warnings.filterwarnings("ignore", message=r".*Constant folding.*")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper, (example,), str(tmp), dynamo=False, opset_version=int(opset),
                input_names=[INPUT_NAME], output_names=list(names), dynamic_axes=dynamic,
                do_constant_folding=True,
            )
        model = onnx.load(str(tmp))
        h = s // net.stride
        for output in model.graph.output:
            channels = OUTPUT_CHANNELS[output.name]
            dims = output.type.tensor_type.shape.dim  # the tracer leaves them symbolic
            for dim, value in zip(dims[1:], (channels, h, h)):
                dim.Clear()
                dim.dim_value = value
        for key, value in _metadata(net, weights_sha256).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))

    try:
        write_atomically(path, write)
    finally:
        net.to(device=device, dtype=dtype).train(was_training)
    return path


def cached_onnx_path(weights: str | Path, cache_dir: str | Path | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Where :func:`export_weights` keeps the ONNX model of a weights file.

    The name holds a hash of the weights file's bytes, the opset, :data:`ONNX_FORMAT` and
    the torch version (the exporter), so any change of these gives a new file.
    """
    weights = Path(weights)
    key = text_sha256(file_sha256(weights), str(int(opset)), ONNX_FORMAT, torch.__version__)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "onnx"
    return folder / f"{weights.stem}-{key[:16]}.onnx"


def export_weights(
    weights: str | Path,
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """ONNX model of a weights file (:meth:`SingleStageNet.save`), exported if needed.

    Args:
        weights: the ``.safetensors`` weights file.
        path: where to write; None = the cache (:func:`cached_onnx_path`), where an
            existing file is reused without exporting again.
        cache_dir: folder of the cache (default :func:`~hand_mesh_core.single_stage.runtimes.artefact_cache.default_cache_dir` / ``onnx``).
        opset: ONNX opset (>= 17).

    Returns the ONNX path. Raises ``FileNotFoundError`` / ``ValueError`` as
    :meth:`SingleStageNet.load` and :func:`export_onnx`. A cached file that is not a
    readable model of this module (:func:`read_onnx_info` refuses it: truncated, corrupt,
    foreign) is logged, deleted and exported again.
    """
    weights = Path(weights)
    if path is None:
        path = cached_onnx_path(weights, cache_dir, opset)
        if path.is_file():
            try:
                read_onnx_info(path)
                return path
            except ModelFileError as exc:
                LOG.warning("cached ONNX model unusable, exporting it again: %s", exc)
                path.unlink(missing_ok=True)
    net = SingleStageNet.load(weights)
    return export_onnx(net, path, opset=opset, weights_sha256=file_sha256(weights))


def read_onnx_info(path: str | Path) -> OnnxModelInfo:
    """The metadata of a file written by :func:`export_onnx`.

    Raises ``FileNotFoundError`` for a missing file and
    :class:`~hand_mesh_core.model_files.ModelFileError` (a ``ValueError`` naming the file)
    for a corrupt or truncated file, an ONNX model that was not written by this module (no
    or another ``hand_mesh.format``) or whose inputs/outputs do not match the interface.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    with reading(path, "hand_mesh single-stage ONNX model"):
        return _onnx_info(path)


def _onnx_info(path: Path) -> OnnxModelInfo:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta: dict[str, Any] = {p.key: p.value for p in model.metadata_props}
    if meta.get("hand_mesh.format") != ONNX_FORMAT:
        raise ValueError(
            f"not a hand_mesh single-stage ONNX model (hand_mesh.format = "
            f"{meta.get('hand_mesh.format')!r}, expected {ONNX_FORMAT!r}); export one with `hand-mesh export`"
        )
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != [INPUT_NAME] or outputs not in (list(OUTPUT_NAMES), [*OUTPUT_NAMES, KEYPOINT_OUTPUT]):
        raise ValueError(f"inputs {inputs} / outputs {outputs}, expected {[INPUT_NAME]} / {list(OUTPUT_NAMES)} "
                         f"(+ {KEYPOINT_OUTPUT!r})")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return OnnxModelInfo(
        path=path,
        input_size=int(meta["hand_mesh.input_size"]),
        stride=int(meta["hand_mesh.stride"]),
        depth_ref=float(meta["hand_mesh.depth_ref"]),
        nms_kernel=int(meta["hand_mesh.nms_kernel"]),
        score_threshold=float(meta["hand_mesh.score_threshold"]),
        max_hands=int(meta["hand_mesh.max_hands"]),
        hand_model=str(meta["hand_mesh.hand_model"]),
        config_yaml=str(meta["hand_mesh.config"]),
        weights_sha256=str(meta.get("hand_mesh.weights_sha256", "")),
        opset=int(opset),
        outputs=tuple(outputs),
    )


def max_abs_difference(net: SingleStageNet, outputs: dict[str, torch.Tensor], images: torch.Tensor) -> dict[str, float]:
    """Largest absolute difference of each output of another runtime from PyTorch's.

    Args:
        net: the PyTorch network (reference; run in float32 on its own device).
        outputs: ``{"centre", "handedness", "params"}`` (and ``keypoint_heatmaps`` for a
            network with that head) of the other runtime for ``images``.
        images: ``[B, 3, S, S]`` the input both saw.

    Returns ``{name: max |other - torch|}``. Raises ``ValueError`` for a missing output or
    a shape mismatch.
    """
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            reference = DenseOutputs(net)(images.to(device).float())
    finally:
        net.train(was_training)
    result = {}
    for name, ref in zip(output_names(net), reference):
        if name not in outputs:
            raise ValueError(f"output {name!r} missing")
        other = torch.as_tensor(outputs[name]).to(ref.device).float()
        if other.shape != ref.shape:
            raise ValueError(f"{name}: shape {tuple(other.shape)} differs from PyTorch's {tuple(ref.shape)}")
        result[name] = float((other - ref).abs().max()) if ref.numel() else 0.0
    return result
