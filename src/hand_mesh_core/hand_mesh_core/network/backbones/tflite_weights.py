"""Reading TensorFlow Lite models (flatbuffers) to load their weights into PyTorch twins.

This reads ``.tflite`` files with the PyPI package ``tflite`` (generated flatbuffer
accessors for TFLite's ``schema.fbs``); no TensorFlow or interpreter is needed. It gives

- the tensors (name, shape, dtype) and operators (op name, inputs, outputs, options);
- constant data, resolving ``DEQUANTIZE`` ops: MediaPipe ships its models with float16
  weights feeding a ``DEQUANTIZE`` op that casts them to float32 at load time, and
  :meth:`TfliteModel.constant` performs that cast (float16 -> float32 is exact);
- each layer's weights in PyTorch layout, keyed by its Keras layer name
  (:meth:`TfliteModel.layer_weights`);
- a copy of the model with a constant replaced (:meth:`TfliteModel.with_constant`), used to
  build an interpreter reference of a fixed-size graph at another input size.

Layouts (TFLite ``schema.fbs`` comments and the TFLite reference kernels):
``CONV_2D`` filters are ``[O, kh, kw, I]`` ("OHWI"), PyTorch wants ``[O, I, kh, kw]``;
``DEPTHWISE_CONV_2D`` filters are ``[1, kh, kw, C * M]`` (M = depth multiplier), PyTorch
wants ``[C * M, 1, kh, kw]`` with ``groups=C``; ``PRELU`` alphas broadcast over
``[..., C]`` (NHWC), PyTorch's ``nn.PReLU(C)`` wants ``[C]``.

MediaPipe's models live inside the installed ``mediapipe`` wheel (Apache-2.0);
:func:`mediapipe_model_path` finds them without importing mediapipe and without any
network access.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from collections import Counter
from pathlib import Path

import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

#: Palm-detector variants shipped in ``mediapipe/modules/palm_detection`` (mediapipe 0.10.21).
PALM_DETECTION_MODELS = {
    "full": "modules/palm_detection/palm_detection_full.tflite",
    "lite": "modules/palm_detection/palm_detection_lite.tflite",
}

_NUMPY_DTYPES = {
    tflite.TensorType.FLOAT32: np.dtype("<f4"),
    tflite.TensorType.FLOAT16: np.dtype("<f2"),
    tflite.TensorType.INT32: np.dtype("<i4"),
    tflite.TensorType.INT64: np.dtype("<i8"),
    tflite.TensorType.UINT8: np.dtype("u1"),
    tflite.TensorType.INT8: np.dtype("i1"),
    tflite.TensorType.INT16: np.dtype("<i2"),
    tflite.TensorType.BOOL: np.dtype("?"),
}
_PADDING = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
_ACTIVATION = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
#: Keras layer name inside a TF tensor name, e.g. ``model_1/model/conv2d_5/Conv2D`` -> ``conv2d_5``.
_KERAS_LAYER = re.compile(r"^(?:[^/;]+/)*?model/([A-Za-z0-9_]+)/")


def mediapipe_model_path(relative: str) -> Path:
    """Absolute path of a file inside the installed ``mediapipe`` package.

    Args:
        relative: path inside the package, e.g. ``"modules/palm_detection/palm_detection_full.tflite"``.

    Raises:
        ModuleNotFoundError: mediapipe is not installed (install it with
            ``pip install mediapipe==0.10.21 --no-deps``, see ``requirements/mediapipe.txt``).
        FileNotFoundError: the package is there but the file is not (another mediapipe version).
    """
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "mediapipe is not installed; the palm-detector weights come from its wheel: "
            "pip install mediapipe==0.10.21 --no-deps (see requirements/mediapipe.txt)"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / relative
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{relative} not found in the installed mediapipe package "
        f"({list(spec.submodule_search_locations)}); the project pins mediapipe==0.10.21"
    )


def palm_detection_model_path(variant: str = "full") -> Path:
    """Path of MediaPipe's palm detector ``palm_detection_<variant>.tflite`` ("full" or "lite").

    Raises ``ValueError`` for another variant and the errors of :func:`mediapipe_model_path`.
    """
    if variant not in PALM_DETECTION_MODELS:
        raise ValueError(f"unknown palm-detection variant {variant!r}; expected one of {sorted(PALM_DETECTION_MODELS)}")
    return mediapipe_model_path(PALM_DETECTION_MODELS[variant])


@dataclasses.dataclass(frozen=True)
class TfliteTensor:
    """One tensor of the graph: ``index`` in the subgraph, ``name``, ``shape``, numpy ``dtype``."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype | None


@dataclasses.dataclass(frozen=True)
class TfliteOperator:
    """One operator: builtin ``op`` name (e.g. ``"CONV_2D"``), tensor indices, parsed options.

    ``options`` holds, where the op has them: ``padding`` ("SAME"/"VALID"), ``stride``
    (h, w), ``dilation`` (h, w), ``activation`` (fused, e.g. "NONE", "RELU"),
    ``filter`` (h, w) for pools, ``depth_multiplier``, ``align_corners`` and
    ``half_pixel_centers`` for ``RESIZE_BILINEAR``.
    """

    index: int
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


@dataclasses.dataclass(frozen=True)
class LayerWeights:
    """Weights of one Keras layer, already in PyTorch layout (float32).

    ``kind`` is ``"conv"`` (weight ``[O, I, kh, kw]``, bias ``[O]``), ``"depthwise"``
    (weight ``[C, 1, kh, kw]``, bias ``[C]``) or ``"prelu"`` (weight ``[C]``, bias None);
    ``stride`` and ``padding`` are the op's (None for PReLU).
    """

    name: str
    kind: str
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int] | None
    padding: str | None


class TfliteModel:
    """A parsed ``.tflite`` model (its first subgraph).

    Build with :meth:`from_file` or from the raw bytes. Raises ``ValueError`` if the bytes
    are not a TFLite flatbuffer (wrong file identifier ``TFL3``) or hold no subgraph.
    """

    def __init__(self, data: bytes) -> None:
        data = bytes(data)
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ValueError("not a TFLite flatbuffer (file identifier 'TFL3' missing)")
        self._data = data
        self._model = tflite.Model.GetRootAsModel(data, 0)
        if self._model.SubgraphsLength() < 1:
            raise ValueError("TFLite model has no subgraph")
        self._graph = self._model.Subgraphs(0)
        self.tensors: list[TfliteTensor] = [self._read_tensor(i) for i in range(self._graph.TensorsLength())]
        self.operators: list[TfliteOperator] = [self._read_operator(i) for i in range(self._graph.OperatorsLength())]
        self._producer = {out: op for op in self.operators for out in op.outputs}
        self._by_name = {t.name: t.index for t in self.tensors}

    @classmethod
    def from_file(cls, path: str | Path) -> TfliteModel:
        """Read a ``.tflite`` file. Raises ``FileNotFoundError`` if it does not exist and
        :class:`~hand_mesh_core.model_files.ModelFileError` when it does not parse."""
        from hand_mesh_core.model_files import reading

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"TFLite model not found: {path}")
        with reading(path, "TFLite model"):
            return cls(path.read_bytes())

    @property
    def data(self) -> bytes:
        """The model's flatbuffer bytes (what an interpreter's ``model_content`` takes)."""
        return self._data

    @property
    def inputs(self) -> list[int]:
        """Tensor indices of the graph inputs."""
        return [int(i) for i in self._graph.InputsAsNumpy()]

    @property
    def outputs(self) -> list[int]:
        """Tensor indices of the graph outputs."""
        return [int(i) for i in self._graph.OutputsAsNumpy()]

    def op_counts(self, skip: tuple[str, ...] = ("DEQUANTIZE",)) -> dict[str, int]:
        """Number of operators per op name, leaving out ``skip`` (weight-casting ops)."""
        return dict(Counter(op.op for op in self.operators if op.op not in skip))

    def tensor_index(self, name: str) -> int:
        """Index of the tensor called ``name``; ``KeyError`` if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r}") from None

    def is_constant(self, index: int) -> bool:
        """True if tensor ``index`` has stored data, directly or through a ``DEQUANTIZE``."""
        if self._buffer_span(index) is not None:
            return True
        op = self._producer.get(index)
        return op is not None and op.op == "DEQUANTIZE" and self._buffer_span(op.inputs[0]) is not None

    def constant(self, index: int) -> np.ndarray:
        """Data of constant tensor ``index`` as a new numpy array of its shape.

        A tensor produced by ``DEQUANTIZE`` of a float16 constant is returned as float32,
        as the interpreter computes it (exact cast). Raises ``ValueError`` for a tensor
        that is not constant, for an unsupported dtype, or for a quantised (int8)
        ``DEQUANTIZE`` input (not used by MediaPipe's float models).
        """
        span = self._buffer_span(index)
        tensor = self.tensors[index]
        if span is not None:
            if tensor.dtype is None:
                raise ValueError(f"tensor {index} ({tensor.name}) has an unsupported dtype")
            start, size = span
            arr = np.frombuffer(self._data, dtype=tensor.dtype, count=size // tensor.dtype.itemsize, offset=start)
            return arr.reshape(tensor.shape).copy()
        op = self._producer.get(index)
        if op is not None and op.op == "DEQUANTIZE":
            source = self.tensors[op.inputs[0]]
            if source.dtype != np.dtype("<f2"):
                raise ValueError(f"DEQUANTIZE of {source.dtype} into tensor {index} is not supported (float16 only)")
            return self.constant(source.index).astype(np.float32)
        raise ValueError(f"tensor {index} ({tensor.name}) is not a constant")

    def with_constant(self, index: int, values: np.ndarray) -> bytes:
        """Model bytes with the stored data of constant tensor ``index`` replaced by ``values``.

        ``values`` must have the tensor's shape (it is cast to the tensor's dtype), so the
        flatbuffer layout is unchanged. Used to re-target fixed shape constants (e.g. the
        output size of a ``RESIZE_BILINEAR``) when running the graph at another input size.
        Raises ``ValueError`` if the tensor has no stored data or the shape differs.
        """
        span = self._buffer_span(index)
        tensor = self.tensors[index]
        if span is None or tensor.dtype is None:
            raise ValueError(f"tensor {index} ({tensor.name}) has no stored data to replace")
        values = np.asarray(values)
        if tuple(values.shape) != tensor.shape:
            raise ValueError(f"tensor {index} has shape {tensor.shape}, got values of shape {values.shape}")
        raw = values.astype(tensor.dtype).tobytes()
        start, size = span
        if len(raw) != size:
            raise ValueError(f"tensor {index}: {len(raw)} bytes given, {size} stored")
        patched = bytearray(self._data)
        patched[start : start + size] = raw
        return bytes(patched)

    def layer_weights(self) -> dict[str, LayerWeights]:
        """Weights of every ``CONV_2D``, ``DEPTHWISE_CONV_2D`` and ``PRELU``, by Keras layer name.

        The Keras layer name (``conv2d_5``, ``depthwise_conv2d_4``, ``p_re_lu_9``,
        ``classifier_palm_8_NO_PRUNING``) is read from the name of the layer's weight
        tensor, which the TF converter derives from the layer's scope. Weights are
        float32 in PyTorch layout (see the module docstring). Raises ``ValueError`` if a
        weight is not constant, a name cannot be parsed or occurs twice, or a layout is
        not one this reader maps (dilated or depth-multiplier > 1 convolutions).
        """
        layers: dict[str, LayerWeights] = {}
        for op in self.operators:
            if op.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "PRELU"):
                continue
            weight_index = op.inputs[1]
            name = self._keras_layer_name(weight_index)
            if name in layers:
                raise ValueError(f"Keras layer {name!r} owns more than one operator")
            weight = self.constant(weight_index).astype(np.float32)
            bias = None
            if op.op != "PRELU" and len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias = self.constant(op.inputs[2]).astype(np.float32)
            if op.op == "CONV_2D":
                self._check_undilated(op)
                layers[name] = LayerWeights(
                    name, "conv", conv2d_weight_to_torch(weight), bias, op.options["stride"], op.options["padding"]
                )
            elif op.op == "DEPTHWISE_CONV_2D":
                self._check_undilated(op)
                if op.options.get("depth_multiplier", 1) not in (0, 1):
                    raise ValueError(f"{name}: depth multiplier {op.options['depth_multiplier']} is not supported")
                layers[name] = LayerWeights(
                    name, "depthwise", depthwise_weight_to_torch(weight), bias, op.options["stride"], op.options["padding"]
                )
            else:
                layers[name] = LayerWeights(name, "prelu", prelu_weight_to_torch(weight), None, None, None)
        return layers

    # -- flatbuffer access -------------------------------------------------------------

    def _keras_layer_name(self, index: int) -> str:
        match = _KERAS_LAYER.match(self.tensors[index].name)
        if match is None:
            raise ValueError(f"cannot read a Keras layer name from tensor name {self.tensors[index].name!r}")
        return match.group(1)

    @staticmethod
    def _check_undilated(op: TfliteOperator) -> None:
        if op.options.get("dilation", (1, 1)) != (1, 1):
            raise ValueError(f"operator {op.index} ({op.op}) is dilated; not supported")

    def _buffer_span(self, index: int) -> tuple[int, int] | None:
        """(byte offset, byte size) of the tensor's stored data in the flatbuffer, or None."""
        t = self._graph.Tensors(index)
        buffer = self._model.Buffers(t.Buffer())
        if buffer is None or buffer.DataLength() == 0:
            return None
        o = buffer._tab.Offset(4)  # field 'data' of table Buffer (schema.fbs)
        return buffer._tab.Vector(o), buffer.DataLength()

    def _read_tensor(self, index: int) -> TfliteTensor:
        t = self._graph.Tensors(index)
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        return TfliteTensor(index, t.Name().decode(), shape, _NUMPY_DTYPES.get(t.Type()))

    def _read_operator(self, index: int) -> TfliteOperator:
        op = self._graph.Operators(index)
        code = self._model.OperatorCodes(op.OpcodeIndex())
        # schema.fbs: builtin_code holds codes >= 127, deprecated_builtin_code the older ones
        name = BUILTIN_OPCODE2NAME.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "UNKNOWN")
        inputs = tuple(int(i) for i in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(i) for i in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        return TfliteOperator(index, name, inputs, outputs, _read_options(op, name))


def _read_options(op: tflite.Operator, name: str) -> dict:
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        options = {
            "padding": _PADDING[o.Padding()],
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "activation": _ACTIVATION[o.FusedActivationFunction()],
        }
        if name == "DEPTHWISE_CONV_2D":
            options["depth_multiplier"] = o.DepthMultiplier()
        return options
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = tflite.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": _PADDING[o.Padding()],
            "stride": (o.StrideH(), o.StrideW()),
            "filter": (o.FilterHeight(), o.FilterWidth()),
            "activation": _ACTIVATION[o.FusedActivationFunction()],
        }
    if name == "RESIZE_BILINEAR":
        o = tflite.ResizeBilinearOptions()
        o.Init(table.Bytes, table.Pos)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name == "ADD":
        o = tflite.AddOptions()
        o.Init(table.Bytes, table.Pos)
        return {"activation": _ACTIVATION[o.FusedActivationFunction()]}
    return {}


def conv2d_weight_to_torch(weight: np.ndarray) -> np.ndarray:
    """TFLite ``CONV_2D`` filter ``[O, kh, kw, I]`` -> PyTorch ``[O, I, kh, kw]``.

    Raises ``ValueError`` if ``weight`` is not 4-D.
    """
    if weight.ndim != 4:
        raise ValueError(f"CONV_2D filter must be [O, kh, kw, I], got shape {weight.shape}")
    return np.ascontiguousarray(weight.transpose(0, 3, 1, 2))


def depthwise_weight_to_torch(weight: np.ndarray) -> np.ndarray:
    """TFLite ``DEPTHWISE_CONV_2D`` filter ``[1, kh, kw, C]`` -> PyTorch ``[C, 1, kh, kw]``.

    Raises ``ValueError`` if ``weight`` is not ``[1, kh, kw, C]``.
    """
    if weight.ndim != 4 or weight.shape[0] != 1:
        raise ValueError(f"DEPTHWISE_CONV_2D filter must be [1, kh, kw, C], got shape {weight.shape}")
    return np.ascontiguousarray(weight.transpose(3, 0, 1, 2))


def prelu_weight_to_torch(alpha: np.ndarray) -> np.ndarray:
    """TFLite ``PRELU`` alpha broadcast over NHWC (``[C]``, ``[1, 1, C]``, ...) -> ``[C]``.

    Raises ``ValueError`` if alpha is not per-channel (all leading dimensions of size 1).
    """
    if alpha.ndim == 0 or any(s != 1 for s in alpha.shape[:-1]):
        raise ValueError(f"PRELU alpha must be per-channel [..., C], got shape {alpha.shape}")
    return np.ascontiguousarray(alpha.reshape(-1))
