"""The ``single_stage`` backend of :func:`hand_mesh_core.create_predictor`.

Per batch of images: letterbox each into the network's square input
(:mod:`.letterbox`, ``K_net = A K``), one forward pass of :class:`.SingleStageNet` by the
chosen runtime (:mod:`hand_mesh_core.runtime`: PyTorch channels-last with fp16 autocast on
CUDA, ONNX Runtime or TensorRT), decoding of every hand (:mod:`.decoding`: peaks,
handedness, parameters, meshes, metric wrist through the real ``K``), and conversion to
:class:`~hand_mesh_core.results.Prediction` (2D = projection of the 3D keypoints through the
real ``K``, in the input image's pixels).

Weights: a file written by :meth:`SingleStageNet.save` (config inside). Default: the
shipped :data:`DEFAULT_WEIGHTS` when it exists; otherwise construction fails with a clear
error — a network with random weights is never run silently.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hand_mesh_core.camera import intrinsics_from_fov, project, validate_intrinsics
from hand_mesh_core.network.keypoint_refinement import KeypointRefiner, RefinementSettings
from hand_mesh_core.network.letterbox import letterbox_image
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.paths import ASSETS_DIR
from hand_mesh_core.predictor import Predictor, prepare_image
from hand_mesh_core.network.decoding import DecodedHands
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_core.runtime import create_engine

#: Weights used when the ``weights`` option is not given (shipped by the training issue).
DEFAULT_WEIGHTS = ASSETS_DIR / "weights" / "single_stage_default.safetensors"


class SingleStagePredictor(Predictor):
    """Single-stage multi-hand mesh predictor (Ren, Zhu, Zhang, CVIU 2023, with real-K decoding).

    Args:
        weights: path of a weights file (:meth:`SingleStageNet.save`); None = :data:`DEFAULT_WEIGHTS`.
        fp16: use fp16 autocast for the network on CUDA (ignored on CPU); with
            ``runtime="tensorrt"``, build the engine with fp16 kernels.
        runtime: what runs the network (:mod:`hand_mesh_core.runtime`): ``"torch"``
            (default), ``"onnxruntime"`` (CPU or CUDA execution provider by ``device``) or
            ``"tensorrt"`` (CUDA). The exported runtimes run the ONNX model of ``weights``,
            exported once into the cache (``$HAND_MESH_CACHE``, default
            ``~/.cache/hand_mesh``), unless ``onnx`` names one. Decoding is the same for all.
        onnx: an ONNX model exported from ``weights`` (``hand-mesh export``) to run instead.
        runtime_options: the runtime's own options (:func:`hand_mesh_core.runtime.create_engine`),
            e.g. ``{"threads": 2}`` for ONNX Runtime or ``{"cache_dir": ...}`` for TensorRT.
        keypoint_refinement: refine each hand to the network's keypoint heatmaps
            (:mod:`.keypoint_refinement`) when the weights have that head; None = the
            weights' config (``decoding.keypoint_refinement.enabled``). Runtimes whose
            outputs lack the heatmaps decode without it.
        **options: the common options of :class:`~hand_mesh_core.predictor.Predictor`
            (``device``, ``max_hands``, ``score_threshold``, ``hand_model``, ``mano_path``,
            ``video``, ``max_image_side``). ``max_hands`` and ``score_threshold`` drive the
            decoding directly.

    Raises:
        FileNotFoundError: no weights file (none given and no shipped default), saying so.
        ValueError: a bad option or a weights file that does not describe a SingleStageNet.
        RuntimeError: the runtime's package, execution provider or GPU is missing.

    Stream mode (``video=True``): every frame is decoded alone; the base class then gives
    the hands their ``track_id`` (:mod:`hand_mesh_core.tracking`) and, with
    ``smoothing=True``, One-Euro filters them (:mod:`hand_mesh_core.smoothing`). The
    handedness stays the network's per frame (the side is chosen inside the decoding).

    On CPU, construction turns on flushing of denormal floats to zero for the process
    (``torch.set_flush_denormal(True)``): denormal activations, which occur in convolutional
    networks, made a forward pass up to 10x slower on x86 in our measurements, and values
    below 1e-38 carry no information here.
    """

    backend = "single_stage"

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        fp16: bool = True,
        runtime: str = "torch",
        onnx: str | Path | None = None,
        runtime_options: dict[str, Any] | None = None,
        keypoint_refinement: bool | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        if not path.is_file():
            if weights is None:
                raise FileNotFoundError(
                    f"the single_stage backend has no trained weights: {DEFAULT_WEIGHTS} does not exist "
                    "(it is produced by training, a separate step). Pass weights=<file.safetensors> "
                    "or use backend='two_stage'."
                )
            raise FileNotFoundError(f"weights file not found: {path}")
        self.weights_path = path
        if self.device == "cpu":
            torch.set_flush_denormal(True)
        self.net = SingleStageNet.load(path, map_location=self.device).eval()
        self.net = self.net.to(memory_format=torch.channels_last)
        self.fp16 = bool(fp16) and self.device.startswith("cuda")
        engine_options = dict(runtime_options or {})
        if runtime == "torch":
            engine_options.setdefault("precision", "auto" if fp16 else "fp32")
        elif runtime == "tensorrt":
            engine_options.setdefault("fp16", bool(fp16))
        self.runtime = runtime
        self.engine = create_engine(runtime, net=self.net, weights=path, onnx=onnx, device=self.device, **engine_options)
        self.hand_models = self.load_hand_models()
        first = self.hand_models["right"]
        self.hand_model_name = str(getattr(first, "name", self.hand_model_kind))
        self.faces = {s: m.faces.detach().cpu().numpy().astype(np.int32) for s, m in self.hand_models.items()}
        settings = RefinementSettings.from_config(self.net.config)
        if keypoint_refinement is not None:
            settings = dataclasses.replace(settings, enabled=bool(keypoint_refinement))
        has_head = self.net.heads.keypoints is not None
        self.refiner = KeypointRefiner(self.hand_models, settings, self.net.stride) if has_head and settings.enabled else None

    @property
    def input_size(self) -> int:
        """Side of the square network input in pixels."""
        return self.net.input_size

    @property
    def detector_input_side(self) -> int:  # the network detects on its letterboxed input
        return self.net.input_size

    def _predict(self, image: np.ndarray, K: np.ndarray, timestamp: float) -> Prediction:
        return self._run([image], [K])[0]

    def predict_batch(self, images: Sequence[np.ndarray], Ks: Sequence[np.ndarray | None] | None = None) -> list[Prediction]:
        """:meth:`predict` for several images in one network pass.

        Args:
            images: ``B`` images (any layout :func:`~hand_mesh_core.predictor.prepare_image`
                accepts; sizes may differ).
            Ks: ``B`` intrinsics (each 3x3, 9 numbers or None for the default field of
                view), or None for all defaults.

        Returns:
            ``B`` :class:`Prediction` objects, as :meth:`predict` would return one by one.
            Raises ``ValueError`` for a bad image or ``K`` or mismatched lengths.
        """
        images = list(images)
        Ks = [None] * len(images) if Ks is None else list(Ks)
        if len(Ks) != len(images):
            raise ValueError(f"{len(images)} images but {len(Ks)} intrinsics")
        if not images:
            return []
        rgbs = [prepare_image(im) for im in images]
        Ks = [intrinsics_from_fov(r.shape[1], r.shape[0]) if k is None else validate_intrinsics(k) for r, k in zip(rgbs, Ks)]
        return self._run(rgbs, Ks)

    @torch.inference_mode()
    def _run(self, rgbs: list[np.ndarray], Ks: list[np.ndarray]) -> list[Prediction]:
        t0 = time.perf_counter()
        size = self.input_size
        canvases, K_nets = [], []
        for rgb, K in zip(rgbs, Ks):
            canvas, box = letterbox_image(rgb, size)
            canvases.append(canvas)
            K_nets.append(box.intrinsics(K))
        batch = torch.from_numpy(np.stack(canvases)).to(self.device).permute(0, 3, 1, 2)
        batch = batch.float().div_(255.0).contiguous(memory_format=torch.channels_last)
        K_net = torch.as_tensor(np.stack(K_nets), dtype=torch.float32, device=self.device)
        t1 = time.perf_counter()
        outputs = self.engine(batch)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        hands = self.engine.decode(outputs, K_net, self.hand_models, self.score_threshold, self.max_hands)
        if self.refiner is not None and "keypoint_heatmaps" in outputs:
            hands = self.refiner(hands, outputs["keypoint_heatmaps"], K_net)
        predictions = hands_to_predictions(
            hands, [(r.shape[1], r.shape[0]) for r in rgbs], Ks, backend=self.backend,
            hand_model=self.hand_model_name, faces=self.faces,
        )
        t3 = time.perf_counter()
        timings = {
            "preprocess": (t1 - t0) * 1e3,
            "network": (t2 - t1) * 1e3,
            "decode": (t3 - t2) * 1e3,
            "total": (t3 - t0) * 1e3,
        }
        for p in predictions:
            p.timings = dict(timings)
        return predictions


def hands_to_predictions(
    hands: DecodedHands,
    image_sizes: Sequence[tuple[int, int]],
    Ks: Sequence[np.ndarray],
    *,
    backend: str,
    hand_model: str,
    faces: dict[str, np.ndarray],
) -> list[Prediction]:
    """One :class:`Prediction` per image from decoded hands.

    Args:
        hands: :class:`~hand_mesh_core.network.decoding.DecodedHands` of a batch.
        image_sizes: ``(width, height)`` of each original image.
        Ks: real ``3x3`` intrinsics of each image: 2D keypoints are the projection of the 3D
            keypoints through them (original-image pixels); the box is that of the projected
            vertices, clipped to the image.
        backend, hand_model, faces: copied into each :class:`Prediction`.
    """
    device = hands.vertices.device
    K_real = torch.as_tensor(np.stack(Ks), dtype=torch.float32, device=device)[hands.batch_index]
    kp2d = project(hands.keypoints_3d, K_real).cpu().numpy()
    vert2d = project(hands.vertices, K_real)
    lo, hi = vert2d.amin(dim=1).cpu().numpy(), vert2d.amax(dim=1).cpu().numpy()
    host = {k: getattr(hands, k).cpu().numpy() for k in (
        "batch_index", "score", "is_right", "handedness_score", "global_orient", "hand_pose", "betas",
        "transl", "vertices", "keypoints_3d")}
    per_image: list[list[HandResult]] = [[] for _ in image_sizes]
    for i in range(len(hands)):
        b = int(host["batch_index"][i])
        width, height = image_sizes[b]
        box = np.clip(np.concatenate([lo[i], hi[i]]), 0.0, [width, height, width, height]).astype(np.float32)
        per_image[b].append(HandResult(
            handedness="right" if host["is_right"][i] else "left",
            handedness_score=float(np.clip(host["handedness_score"][i], 0.0, 1.0)),
            score=float(np.clip(host["score"][i], 0.0, 1.0)),
            bbox=box,
            keypoints_2d=kp2d[i],
            keypoints_3d=host["keypoints_3d"][i],
            vertices=host["vertices"][i],
            pose=np.concatenate([host["global_orient"][i], host["hand_pose"][i]]),
            shape=host["betas"][i],
            transl=host["transl"][i],
        ))
    return [
        Prediction(hs, image_size=size, K=K, backend=backend, hand_model=hand_model, faces=faces)
        for hs, size, K in zip(per_image, image_sizes, Ks)
    ]
