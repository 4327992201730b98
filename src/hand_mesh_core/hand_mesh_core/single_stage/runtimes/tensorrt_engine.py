"""The TensorRT runtime: an engine built from the exported ONNX model, cached on disk.

Build (TensorRT 10 Python API, "The Build Phase" of NVIDIA's Python API documentation):
``trt.Builder(logger)``; ``builder.create_network(0)`` (networks are always explicit-batch
since TensorRT 10, the ``EXPLICIT_BATCH`` flag is deprecated and ignored);
``trt.OnnxParser(network, logger).parse(bytes)``; a builder config with
``set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, bytes)`` and
``set_flag(trt.BuilderFlag.FP16)``; one optimisation profile for the dynamic batch (1 to
``max_batch``, optimised for 1, the live-camera case); ``build_serialized_network``.
TensorRT 11 removed the weak-typing precision flags (``BuilderFlag.FP16`` among them):
there, the engine is built in the ONNX model's own precision (float32) and a warning
says so; fp16 would need an fp16 ONNX model (NVIDIA ModelOpt AutoCast).

Run ("The Runtime Phase"): ``trt.Runtime(logger).deserialize_cuda_engine(plan)``,
``create_execution_context()``, then per batch ``set_input_shape``, ``set_tensor_address``
of the input and of each output (torch CUDA tensors serve as buffers) and
``execute_async_v3(stream)`` on torch's current CUDA stream, so the decoding that follows
on that stream sees the results without an explicit synchronisation.

Cache: building takes seconds to minutes, so the serialized engine is written to
``<cache_dir>/<onnx stem>-<key>.engine`` where ``key`` is a hash of the ONNX file's bytes,
the GPU name and compute capability, the TensorRT version, the precision and the batch
range (:func:`engine_cache_key`). An engine is only valid for the GPU model and TensorRT
version that built it; any change of these, or of the model, selects a new file, which is
built on first use. A cache file that TensorRT cannot deserialize (truncated, corrupt) is
logged, deleted and built again.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from types import ModuleType

import torch

from hand_mesh_core.single_stage.runtimes.artefact_cache import default_cache_dir, file_sha256, text_sha256, write_atomically
from hand_mesh_core.single_stage.runtimes.engine import Engine
from hand_mesh_core.single_stage.runtimes.onnx_export import INPUT_NAME, read_onnx_info

LOG = logging.getLogger(__name__)

#: Default largest batch of the optimisation profile.
DEFAULT_MAX_BATCH = 8
#: Default builder workspace (MiB).
DEFAULT_WORKSPACE_MB = 1024


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module. Raises ``RuntimeError`` saying how to get it when absent."""
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeError(
            "runtime 'tensorrt' needs NVIDIA TensorRT's Python package: on a CUDA desktop "
            "`pip install tensorrt` (TensorRT 10 matches this code best), on Jetson the JetPack system "
            "package python3-libnvinfer; or use runtime='onnxruntime' / 'torch'"
        ) from exc
    return tensorrt


@dataclasses.dataclass(frozen=True)
class EngineKey:
    """Everything a serialized TensorRT engine depends on.

    Attributes:
        onnx_sha256: SHA-256 of the ONNX file's bytes.
        gpu_name: ``torch.cuda.get_device_name`` of the GPU it runs on.
        compute_capability: ``"major.minor"`` of that GPU.
        tensorrt_version: ``tensorrt.__version__``.
        precision: ``"fp16"`` or ``"fp32"``.
        max_batch: largest batch of the optimisation profile.
    """

    onnx_sha256: str
    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    precision: str
    max_batch: int


def engine_cache_key(key: EngineKey) -> str:
    """Hex SHA-256 over every field of ``key`` (equal keys, equal hashes; any change, another)."""
    return text_sha256("hand_mesh.tensorrt/1", *(str(v) for v in dataclasses.astuple(key)))


def engine_cache_path(onnx_path: str | Path, key: EngineKey, cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/<onnx stem>-<first 16 hex digits of the key>.engine``.

    ``cache_dir`` defaults to :func:`~hand_mesh_core.single_stage.runtimes.artefact_cache.default_cache_dir` /
    ``tensorrt``.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "tensorrt"
    return folder / f"{Path(onnx_path).stem}-{engine_cache_key(key)[:16]}.engine"


def build_serialized_engine(
    trt: ModuleType,
    onnx_bytes: bytes,
    *,
    input_size: int,
    fp16: bool,
    max_batch: int,
    workspace_mb: int,
    logger: object,
) -> bytes:
    """Build a serialized engine (plan) from an exported model's bytes (see the module docstring).

    Raises ``RuntimeError`` with the parser's errors when the ONNX model does not parse, or
    when the builder returns no engine.
    """
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    s = int(input_size)
    profile.set_shape(INPUT_NAME, (1, 3, s, s), (1, 3, s, s), (int(max_batch), 3, s, s))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT's builder returned no engine (see the TensorRT log above)")
    return bytes(plan)


class TensorRTEngine(Engine):
    """An exported single-stage model as a TensorRT engine on a CUDA GPU.

    Args:
        onnx_path: a file written by :func:`~hand_mesh_core.single_stage.runtimes.onnx_export.export_onnx`.
        device: ``"cuda"`` or ``"cuda:N"``.
        fp16: build with fp16 kernels allowed (TensorRT 10; ignored with a warning where the
            flag no longer exists).
        max_batch: largest batch the engine accepts; larger batches run in chunks.
        workspace_mb: builder workspace limit, MiB.
        cache_dir: folder of the engine cache (default ``<cache>/tensorrt``).

    Attributes: ``engine_path`` (the cache file used), ``precision``, ``built`` (True when
    this construction built the engine rather than loading it).

    Raises ``RuntimeError`` when TensorRT or CUDA is missing or the build fails, and
    ``ValueError`` for a non-CUDA device or a bad option.
    """

    runtime = "tensorrt"

    def __init__(
        self,
        onnx_path: str | Path,
        *,
        device: str = "cuda",
        fp16: bool = True,
        max_batch: int = DEFAULT_MAX_BATCH,
        workspace_mb: int = DEFAULT_WORKSPACE_MB,
        cache_dir: str | Path | None = None,
    ) -> None:
        device = str(device)
        if not (device == "cuda" or device.startswith("cuda:")):
            raise ValueError(f"runtime 'tensorrt' needs a CUDA device, got {device!r}")
        if int(max_batch) < 1 or int(workspace_mb) < 1:
            raise ValueError(f"max_batch and workspace_mb must be >= 1, got {max_batch}, {workspace_mb}")
        trt = import_tensorrt()
        if not torch.cuda.is_available():
            raise RuntimeError("runtime 'tensorrt' needs CUDA, and torch sees no CUDA device")
        info = read_onnx_info(onnx_path)
        super().__init__(device=device, input_size=info.input_size, stride=info.stride, depth_ref=info.depth_ref,
                         nms_kernel=info.nms_kernel)
        self.info = info
        self.max_batch = int(max_batch)
        index = torch.device(device).index or 0
        can_fp16 = hasattr(trt.BuilderFlag, "FP16")
        if fp16 and not can_fp16:
            LOG.warning("TensorRT %s has no BuilderFlag.FP16 (strong typing only): building in the ONNX model's "
                        "float32; export an fp16 model (NVIDIA ModelOpt AutoCast) for fp16", trt.__version__)
        self.precision = "fp16" if fp16 and can_fp16 else "fp32"
        major, minor = torch.cuda.get_device_capability(index)
        key = EngineKey(
            onnx_sha256=file_sha256(info.path),
            gpu_name=torch.cuda.get_device_name(index),
            compute_capability=f"{major}.{minor}",
            tensorrt_version=str(trt.__version__),
            precision=self.precision,
            max_batch=self.max_batch,
        )
        self.key = key
        self.engine_path = engine_cache_path(info.path, key, cache_dir)
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.built = not self.engine_path.is_file()
        with torch.cuda.device(index):
            if self.built:
                LOG.info("building TensorRT engine %s (%s, batch 1..%d); this takes a while once",
                         self.engine_path, self.precision, self.max_batch)
                plan = build_serialized_engine(
                    trt, info.path.read_bytes(), input_size=info.input_size, fp16=self.precision == "fp16",
                    max_batch=self.max_batch, workspace_mb=workspace_mb, logger=self._logger,
                )
                write_atomically(self.engine_path, lambda tmp: tmp.write_bytes(plan))
            else:
                plan = self.engine_path.read_bytes()
            self._runtime = trt.Runtime(self._logger)
            self.engine = self._deserialize(plan)
            if self.engine is None and not self.built:  # a corrupt or truncated cache file: rebuild it
                LOG.warning("cached TensorRT engine %s does not deserialize; building it again", self.engine_path)
                self.engine_path.unlink(missing_ok=True)
                plan = build_serialized_engine(
                    trt, info.path.read_bytes(), input_size=info.input_size, fp16=self.precision == "fp16",
                    max_batch=self.max_batch, workspace_mb=workspace_mb, logger=self._logger,
                )
                write_atomically(self.engine_path, lambda tmp: tmp.write_bytes(plan))
                self.built = True
                self.engine = self._deserialize(plan)
            if self.engine is None:
                raise RuntimeError(f"TensorRT could not deserialize the engine it built, {self.engine_path}")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.outputs = tuple(info.outputs)
        expected = {INPUT_NAME, *self.outputs}
        if set(names) != expected:
            raise RuntimeError(f"engine tensors {names} differ from the model's {sorted(expected)}")
        for name in names:
            if self.engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise RuntimeError(f"engine tensor {name!r} is {self.engine.get_tensor_dtype(name)}, expected FLOAT")

    def _deserialize(self, plan: bytes):
        """The engine of ``plan``, or None when TensorRT refuses it (it may also raise on garbage)."""
        try:
            return self._runtime.deserialize_cuda_engine(plan)
        except Exception as exc:  # noqa: BLE001 - TensorRT raises its own types on a corrupt plan
            LOG.warning("TensorRT: %s: %s", type(exc).__name__, exc)
            return None

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.detach().to(self.device, dtype=torch.float32).contiguous()
        if x.shape[0] > self.max_batch:
            chunks = [self.forward(c) for c in x.split(self.max_batch)]
            return {name: torch.cat([c[name] for c in chunks]) for name in self.outputs}
        if not self.context.set_input_shape(INPUT_NAME, tuple(x.shape)):
            raise RuntimeError(f"TensorRT rejected input shape {tuple(x.shape)}")
        self.context.set_tensor_address(INPUT_NAME, x.data_ptr())
        outs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            outs[name] = torch.empty(shape, device=self.device, dtype=torch.float32)
            self.context.set_tensor_address(name, outs[name].data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed (see the TensorRT log)")
        return outs

    def describe(self) -> str:
        return f"tensorrt ({self.precision}, batch 1..{self.max_batch})"
