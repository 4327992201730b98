"""The ONNX Runtime runtime: an exported model (:mod:`.onnx_export`) on the CPU or CUDA provider.

Execution provider by ``device``: ``"cpu"`` -> ``CPUExecutionProvider``; ``"cuda"`` /
``"cuda:N"`` -> ``CUDAExecutionProvider`` (GPU N), which needs the ``onnxruntime-gpu``
package; its absence is an error, never a silent fall-back to the CPU.

Session: all graph optimisations (``ORT_ENABLE_ALL``: constant folding, conv + activation
fusion, layout transformation to NCHWc on x86), sequential execution, ``threads``
intra-op threads (default: torch's thread count, so both runtimes use the same cores),
and no spin-waiting of idle intra-op threads by default
(``session.intra_op.allow_spinning = 0``): spinning threads keep burning a core after the
forward pass, which the decoding that follows needs. Measured on the 2-core CI machine
under load from other jobs (frame with 1 / 8 hands): network 138 / 164 ms and decoding
10.1 / 11.3 ms with spinning, 92 / 93 ms and 2.7 / 3.1 ms without.
On CUDA the input and outputs are bound to torch CUDA tensors (I/O binding: no host
round trip); on the CPU the outputs are wrapped as torch tensors without copying.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hand_mesh_core.single_stage.runtimes.engine import Engine
from hand_mesh_core.single_stage.runtimes.onnx_export import INPUT_NAME, OUTPUT_CHANNELS, OnnxModelInfo, read_onnx_info


def providers_for(device: str) -> list:
    """ONNX Runtime providers for ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``).

    Raises ``ValueError`` for another device and ``RuntimeError`` when CUDA is asked for
    but this onnxruntime build has no ``CUDAExecutionProvider``.
    """
    import onnxruntime as ort

    device = str(device)
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:"):
        available = ort.get_available_providers()
        if "CUDAExecutionProvider" not in available:
            raise RuntimeError(
                f"device {device!r} needs onnxruntime's CUDAExecutionProvider, which this onnxruntime "
                f"({ort.__version__}) lacks (providers: {available}); install onnxruntime-gpu, or use device='cpu'"
            )
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


class OnnxRuntimeEngine(Engine):
    """An exported single-stage model in an ``onnxruntime.InferenceSession``.

    Args:
        onnx_path: a file written by :func:`~hand_mesh_core.single_stage.runtimes.onnx_export.export_onnx`.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        threads: intra-op threads; None = ``torch.get_num_threads()``.
        spinning: let idle intra-op threads spin-wait (lower latency on an otherwise idle
            machine; see the module docstring).

    Outputs ``centre``, ``handedness``, ``params`` (and ``keypoint_heatmaps`` when the model
    has it; float32, on ``device``). Raises
    ``FileNotFoundError`` / ``ValueError`` for a missing or foreign model (see
    :func:`~hand_mesh_core.single_stage.runtimes.onnx_export.read_onnx_info`) and ``RuntimeError`` when
    the CUDA provider is asked for and missing.
    """

    runtime = "onnxruntime"

    def __init__(
        self, onnx_path: str | Path, *, device: str = "cpu", threads: int | None = None, spinning: bool = False
    ) -> None:
        import onnxruntime as ort

        info: OnnxModelInfo = read_onnx_info(onnx_path)
        super().__init__(device=device, input_size=info.input_size, stride=info.stride, depth_ref=info.depth_ref,
                         nms_kernel=info.nms_kernel)
        self.info = info
        providers = providers_for(self.device)
        if threads is not None and int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = int(threads) if threads is not None else torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.threads = options.intra_op_num_threads
        self.session = ort.InferenceSession(str(info.path), options, providers=providers)
        self.provider = self.session.get_providers()[0]
        if self.device != "cpu" and self.provider != "CUDAExecutionProvider":
            raise RuntimeError(f"onnxruntime did not enable CUDAExecutionProvider (got {self.session.get_providers()})")
        self._device_index = int(self.device.partition(":")[2] or 0) if self.device != "cpu" else 0

    def _output_shape(self, name: str, batch: int) -> tuple[int, int, int, int]:
        h = self.input_size // self.stride
        return (batch, OUTPUT_CHANNELS[name], h, h)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.device == "cpu":
            x = images.detach().to("cpu", dtype=torch.float32).contiguous()
            outs = self.session.run(list(self.info.outputs), {INPUT_NAME: x.numpy()})
            return {name: torch.from_numpy(o) for name, o in zip(self.info.outputs, outs)}
        x = images.detach().to(self.device, dtype=torch.float32).contiguous()
        batch = int(x.shape[0])
        outs = {name: torch.empty(self._output_shape(name, batch), device=self.device, dtype=torch.float32)
                for name in self.info.outputs}
        binding = self.session.io_binding()
        binding.bind_input(INPUT_NAME, "cuda", self._device_index, np.float32, tuple(x.shape), x.data_ptr())
        for name, t in outs.items():
            binding.bind_output(name, "cuda", self._device_index, np.float32, tuple(t.shape), t.data_ptr())
        # ONNX Runtime runs on its own CUDA stream: the input must be complete first
        torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        return outs

    def describe(self) -> str:
        return f"onnxruntime ({self.provider}, {self.threads} threads)" if self.device == "cpu" else \
            f"onnxruntime ({self.provider})"
