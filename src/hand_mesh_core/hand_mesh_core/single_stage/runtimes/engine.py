"""The interface every runtime implements: the network's forward pass.

An :class:`Engine` takes the letterboxed batch ``[B, 3, S, S]`` (float RGB in ``[0, 1]``)
and returns the network's maps as float32 torch tensors on its device. Decoding
(:func:`hand_mesh_core.network.decoding.decode`: peaks, handedness, parameters, metric
wrist, hand model) is the same function for every runtime, called once by
:meth:`hand_mesh_core.single_stage.backend.SingleStagePredictor.decode_outputs`; an engine
only says how the per-hand parameters are read from its outputs
(:meth:`Engine.parameter_reader`): PyTorch evaluates the parameter head at the peaks, the
exported runtimes gather a dense map.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping

import torch

from hand_mesh_core.network.decoding import gather_from_map

ParameterReader = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Engine(abc.ABC):
    """The single-stage network run by one runtime.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` where the outputs live.
        input_size: side ``S`` of the square input, pixels.
        stride: network-input pixels per output cell.
        depth_ref: metres per network-input pixel at a zero depth term.
        nms_kernel: max-pool window of the peak search (odd).

    ``engine(images)``: ``images`` ``[B, 3, S, S]`` float (any device) -> ``{"centre": [B, 1,
    h, w], "handedness": [B, 2, h, w], ...}`` float32 on :attr:`device`, plus what
    :meth:`parameter_reader` needs. Raises ``ValueError`` for an input of another shape.
    """

    #: Runtime name (``"torch"``, ``"onnxruntime"``, ``"tensorrt"``).
    runtime: str = ""

    def __init__(self, *, device: str, input_size: int, stride: int, depth_ref: float, nms_kernel: int) -> None:
        self.device = str(device)
        self.input_size = int(input_size)
        self.stride = int(stride)
        self.depth_ref = float(depth_ref)
        self.nms_kernel = int(nms_kernel)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        s = self.input_size
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (s, s) or images.shape[0] < 1:
            raise ValueError(f"expected [B >= 1, 3, {s}, {s}] RGB in [0, 1], got {tuple(images.shape)}")
        return self.forward(images)

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The runtime's forward pass on a checked batch (see the class docstring)."""

    def parameter_reader(self, outputs: Mapping[str, torch.Tensor]) -> ParameterReader:
        """``read(batch_index [N], cells [N, 2]) -> [N, 122]`` both parameter sets at the cells.

        Default: gather the dense ``outputs["params"]`` map (exported runtimes).
        """
        return gather_from_map(outputs["params"])

    def describe(self) -> str:
        """One line for logs and benchmark tables, e.g. ``"onnxruntime (CPUExecutionProvider)"``."""
        return self.runtime

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()}, device={self.device!r}, input={self.input_size})"
