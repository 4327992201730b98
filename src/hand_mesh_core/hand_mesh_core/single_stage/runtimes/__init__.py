"""Runtimes of the single-stage network: PyTorch, ONNX Runtime, TensorRT.

- :mod:`.engine` — the :class:`~.engine.Engine` interface (forward pass; decoding shared);
- :mod:`.torch_engine` — PyTorch: channels-last, fp16/bf16 autocast, optional ``torch.compile``;
- :mod:`.onnx_export` — ``hand-mesh export``: the network as ONNX (opset >= 17) with dense,
  decoding-friendly outputs and self-describing metadata;
- :mod:`.onnxruntime_engine` — ONNX Runtime on the CPU or CUDA execution provider;
- :mod:`.tensorrt_engine` — a TensorRT engine built from the ONNX model, fp16, cached on disk;
- :mod:`.cache` — where exported models and engines are kept, keyed by content hashes.

The single-stage predictor takes ``runtime=`` and builds its engine with
:func:`create_engine`; ``create_predictor("single_stage", runtime="onnxruntime")``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Runtime names accepted by :func:`create_engine` (and ``create_predictor(..., runtime=)``).
RUNTIMES = ("torch", "onnxruntime", "tensorrt")


def runtime_unavailable_reason(runtime: str, device: str = "cpu") -> str | None:
    """Why ``runtime`` cannot run on ``device`` here, or None when it can.

    Checks the Python packages and, for CUDA devices or TensorRT, that torch sees a GPU and
    (ONNX Runtime) that the CUDA execution provider exists. Raises ``ValueError`` for an
    unknown runtime.
    """
    import torch

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    cuda = str(device).startswith("cuda")
    if (cuda or runtime == "tensorrt") and not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    if runtime == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError:
            return "the onnxruntime package is not installed"
        if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    if runtime == "tensorrt":
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return "the tensorrt package is not installed"
    return None


def create_engine(
    runtime: str,
    *,
    net: Any = None,
    weights: str | Path | None = None,
    onnx: str | Path | None = None,
    device: str = "cpu",
    onnx_cache_dir: str | Path | None = None,
    **options: Any,
) -> Any:
    """The :class:`~.engine.Engine` of ``runtime`` for one network.

    Args:
        runtime: one of :data:`RUNTIMES`.
        net: the :class:`~hand_mesh_core.network.model.SingleStageNet` (needed for
            ``"torch"``; for the others it is checked against the ONNX model's metadata).
        weights: the weights file the ONNX model is exported from when ``onnx`` is None
            (cached, :func:`~.onnx_export.export_weights`).
        onnx: an exported ``.onnx`` file to run instead of exporting ``weights``.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        onnx_cache_dir: where exported models are cached (default ``<cache>/onnx``).
        **options: the runtime's own options: ``precision``, ``compile``, ``channels_last``
            (:class:`~.torch_engine.TorchEngine`); ``threads``, ``spinning``
            (:class:`~.onnxruntime_engine.OnnxRuntimeEngine`); ``fp16``, ``max_batch``,
            ``workspace_mb``, ``cache_dir`` (:class:`~.tensorrt_engine.TensorRTEngine`).

    Raises:
        ValueError: unknown runtime, missing ``net`` / model, or an ONNX model that does
            not describe ``net`` (input size, stride or depth reference differ).
        TypeError: an option the runtime does not take.
        RuntimeError: the runtime's package, provider or GPU is missing (the message says
            which and how to get it).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "torch":
        if net is None:
            raise ValueError("runtime 'torch' needs the network (net=...)")
        from hand_mesh_core.single_stage.runtimes.torch_engine import TorchEngine

        return TorchEngine(net, device=device, **options)
    from hand_mesh_core.single_stage.runtimes.onnx_export import export_weights, read_onnx_info

    if onnx is None:
        if weights is None:
            raise ValueError(f"runtime {runtime!r} needs an ONNX model (onnx=...) or a weights file to export")
        onnx = export_weights(weights, cache_dir=onnx_cache_dir)
    info = read_onnx_info(onnx)
    if net is not None:
        ours = (net.input_size, net.stride, float(net.depth_ref))
        theirs = (info.input_size, info.stride, info.depth_ref)
        if ours != theirs:
            raise ValueError(f"ONNX model {onnx} (input, stride, depth_ref = {theirs}) does not match the network {ours}")
    if runtime == "onnxruntime":
        from hand_mesh_core.single_stage.runtimes.onnxruntime_engine import OnnxRuntimeEngine

        return OnnxRuntimeEngine(onnx, device=device, **options)
    from hand_mesh_core.single_stage.runtimes.tensorrt_engine import TensorRTEngine

    return TensorRTEngine(onnx, device=device, **options)


__all__ = ["RUNTIMES", "create_engine", "runtime_unavailable_reason"]
