"""The PyTorch runtime: the network as a module, channels-last, autocast on CUDA, optional compile.

* channels-last memory format for the weights and the input (NHWC convolutions, faster on
  CPU with oneDNN and on CUDA tensor cores);
* precision ``"auto"``: fp16 autocast on CUDA, float32 on CPU (``"bf16"`` autocast is
  available on both; ``"fp16"`` only on CUDA, where it is fast); outputs are float32;
* ``compile=True`` wraps the network in :func:`torch.compile` (first calls are slow while it
  compiles; later ones faster on CUDA; needs a C++ compiler on CPU);
* the per-hand parameter head runs at the peaks only
  (:class:`hand_mesh_core.network.heads.PeakHead`), from the shared feature map.

CPU threads: PyTorch's wheels use GNU OpenMP, whose idle threads spin-wait by default. When
other processes compete for the cores (a robot's other nodes, or the shared CI machine),
a parallel region then waits for descheduled spinning threads: measured on the 2-core CI
machine under a load average of ~5, the light default network's forward pass took a median
1910 ms on 2 threads against 104 ms on 1 thread, and 69 ms on 2 threads with
``OMP_WAIT_POLICY=PASSIVE`` in the environment (read when torch is imported, so it must be
set before the process starts; the Docker images and ``hand-mesh bench`` set it).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.single_stage.runtimes.engine import Engine, ParameterReader

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class TorchEngine(Engine):
    """:class:`SingleStageNet` in PyTorch.

    Args:
        net: the network (moved to ``device`` and put in eval mode).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: one of :data:`PRECISIONS` (see the module docstring).
        compile: wrap the forward pass in :func:`torch.compile`.
        channels_last: use the channels-last memory format.

    Outputs: ``centre``, ``handedness`` and ``features`` (the shared map the parameter head
    reads), float32. Raises ``ValueError`` for an unknown precision or fp16 on the CPU.
    """

    runtime = "torch"

    def __init__(
        self,
        net: SingleStageNet,
        *,
        device: str = "cpu",
        precision: str = "auto",
        compile: bool = False,
        channels_last: bool = True,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        cuda = str(device).startswith("cuda")
        if precision == "fp16" and not cuda:
            raise ValueError("precision 'fp16' needs a CUDA device (use 'bf16' or 'fp32' on the CPU)")
        super().__init__(device=device, input_size=net.input_size, stride=net.stride, depth_ref=net.depth_ref,
                         nms_kernel=int(net.config.decoding.nms_kernel))
        self.precision = ("fp16" if cuda else "fp32") if precision == "auto" else precision
        self.channels_last = bool(channels_last)
        self.net = net.to(self.device).eval()
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.compiled = bool(compile)
        self._forward = torch.compile(self.net) if compile else self.net

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.to(self.device, dtype=torch.float32, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        dtype = _DTYPES.get(self.precision)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self._forward(x)
        return {k: v.float() for k, v in out.items()}

    def parameter_reader(self, outputs: Mapping[str, torch.Tensor]) -> ParameterReader:
        features = outputs["features"]
        return lambda batch_index, cells: self.net.parameters_at(features, batch_index, cells)

    def describe(self) -> str:
        extra = ", compiled" if self.compiled else ""
        return f"torch ({self.precision}{', channels-last' if self.channels_last else ''}{extra})"
