"""The ``single_stage`` backend of :func:`hand_mesh_core.create_predictor`.

Per batch of images: letterbox each into the network's square input
(:mod:`hand_mesh_core.network.letterbox`, ``K_net = A K``), one forward pass of
:class:`~hand_mesh_core.network.model.SingleStageNet` by the
chosen runtime (:mod:`hand_mesh_core.single_stage.runtimes`: PyTorch channels-last with fp16 autocast on
CUDA, ONNX Runtime or TensorRT), decoding of every hand (:mod:`hand_mesh_core.network.decoding`: peaks,
handedness, parameters, meshes, metric wrist through the real ``K``; :meth:`SingleStagePredictor.decode_outputs`), and conversion to
:class:`~hand_mesh_core.results.Prediction` (2D = projection of the 3D keypoints through the
real ``K``, in the input image's pixels).

Weights: a file written by :meth:`SingleStageNet.save` (config inside). Default: the
shipped :data:`DEFAULT_WEIGHTS` when it exists; otherwise construction fails with a clear
error — a network with random weights is never run silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hand_mesh_core.camera import intrinsics_from_fov, validate_intrinsics
from hand_mesh_core.network.decoding import DecodedHands, decode
from hand_mesh_core.network.letterbox import letterbox_image
from hand_mesh_core.network.model import SingleStageNet
from hand_mesh_core.paths import ASSETS_DIR
from hand_mesh_core.predictor import Predictor, prepare_image
from hand_mesh_core.results import HandResult, Prediction, posed_hand_result
from hand_mesh_core.single_stage.keypoint_refinement import KeypointRefiner, RefinementSettings
from hand_mesh_core.single_stage.runtimes import create_engine
from hand_mesh_core.threads import single_cpu_thread

#: Weights used when the ``weights`` option is not given (shipped by the training issue).
DEFAULT_WEIGHTS = ASSETS_DIR / "weights" / "single_stage_default.safetensors"


class SingleStagePredictor(Predictor):
    """Single-stage multi-hand mesh predictor (Ren, Zhu, Zhang, CVIU 2023, with real-K decoding).

    Args:
        weights: path of a weights file (:meth:`SingleStageNet.save`); None = :data:`DEFAULT_WEIGHTS`.
        fp16: use fp16 autocast for the network on CUDA (ignored on CPU); with
            ``runtime="tensorrt"``, build the engine with fp16 kernels.
        runtime: what runs the network (:mod:`hand_mesh_core.single_stage.runtimes`): ``"torch"``
            (default), ``"onnxruntime"`` (CPU or CUDA execution provider by ``device``) or
            ``"tensorrt"`` (CUDA). The exported runtimes run the ONNX model of ``weights``,
            exported once into the cache (``$HAND_MESH_CACHE``, default
            ``~/.cache/hand_mesh``), unless ``onnx`` names one. Decoding is the same for all.
        onnx: an ONNX model exported from ``weights`` (``hand-mesh export``) to run instead.
        runtime_options: the runtime's own options (:func:`hand_mesh_core.single_stage.runtimes.create_engine`),
            e.g. ``{"threads": 2}`` for ONNX Runtime or ``{"cache_dir": ...}`` for TensorRT.
        keypoint_refinement: refine each hand to the network's keypoint heatmaps
            (:mod:`hand_mesh_core.single_stage.keypoint_refinement`) when the weights have that head; None = the
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
        self.load_hand_models()
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
            ``B`` :class:`Prediction` objects, as :meth:`predict` would return one by one in
            image mode: each image downscaled to ``max_image_side`` when larger (2D mapped
            back), its best ``max_hands`` hands by score.

        Raises:
            ValueError: a bad image or ``K``, mismatched lengths, or stream mode
                (``video=True``: tracks and smoothing need one frame after the other, call
                :meth:`predict`).
        """
        if self.video:
            raise ValueError("predict_batch runs image mode; in stream mode (video=True) call predict frame by frame")
        t0 = time.perf_counter()
        images = list(images)
        Ks = [None] * len(images) if Ks is None else list(Ks)
        if len(Ks) != len(images):
            raise ValueError(f"{len(images)} images but {len(Ks)} intrinsics")
        if not images:
            return []
        rgbs = [prepare_image(im) for im in images]
        Ks = [intrinsics_from_fov(r.shape[1], r.shape[0]) if k is None else validate_intrinsics(k) for r, k in zip(rgbs, Ks)]
        work = [self._working_image(r, k) for r, k in zip(rgbs, Ks)]
        preds = self._run([w[0] for w in work], [w[1] for w in work])
        return [
            self._in_input_pixels(pred, sorted(pred, key=lambda h: -h.score)[: self.max_hands],
                                  (rgb.shape[1], rgb.shape[0]), K, scale, dict(pred.timings), t0)
            for rgb, K, (_, _, scale), pred in zip(rgbs, Ks, work, preds)
        ]

    @torch.inference_mode()
    def decode_outputs(
        self,
        outputs: Mapping[str, torch.Tensor],
        K_net: torch.Tensor,
        score_threshold: float | None = None,
        max_hands: int | None = None,
    ) -> DecodedHands:
        """Every hand of a batch from the engine's outputs: the one call of
        :func:`hand_mesh_core.network.decoding.decode` (peaks, handedness, parameters read
        by the engine's :meth:`~.runtimes.engine.Engine.parameter_reader`, metric wrist,
        hand model), then the keypoint refinement when it is on (:attr:`refiner`).

        Args:
            outputs: what :attr:`engine` returned for a ``[B, 3, S, S]`` batch.
            K_net: ``[B, 3, 3]`` float32 intrinsics of the network input, pixels.
            score_threshold, max_hands: default the predictor's.

        On the CPU this runs on one torch thread
        (:func:`hand_mesh_core.threads.single_cpu_thread`): its tensors are tiny (a few
        hands), and splitting each small op over OpenMP threads only adds synchronisation.
        Measured on the 2-core CI machine under load from other jobs: decoding 1 / 8 hands
        took 1.2 / 1.7 ms on one thread, and 1.2 to 124 ms (erratic) on two.
        """
        e = self.engine
        with single_cpu_thread() if self.device == "cpu" else contextlib.nullcontext():
            hands = decode(
                outputs["centre"], outputs["handedness"], e.parameter_reader(outputs), K_net, self.hand_models,
                stride=e.stride, depth_ref=e.depth_ref, nms_kernel=e.nms_kernel,
                score_threshold=float(self.score_threshold if score_threshold is None else score_threshold),
                max_hands=int(self.max_hands if max_hands is None else max_hands),
            )
            if self.refiner is not None and "keypoint_heatmaps" in outputs:
                hands = self.refiner(hands, outputs["keypoint_heatmaps"], K_net)
        return hands

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
        hands = self.decode_outputs(outputs, K_net)
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
        Ks: real ``3x3`` intrinsics of each image: the 2D fields are built from the 3D ones
            through them (:func:`~hand_mesh_core.results.posed_hand_result`: original-image
            pixels).
        backend, hand_model, faces: copied into each :class:`Prediction`.
    """
    host = {k: getattr(hands, k).cpu().numpy() for k in (
        "batch_index", "score", "is_right", "handedness_score", "global_orient", "hand_pose", "betas",
        "transl", "vertices", "keypoints_3d")}
    per_image: list[list[HandResult]] = [[] for _ in image_sizes]
    for i in range(len(hands)):
        b = int(host["batch_index"][i])
        per_image[b].append(posed_hand_result(
            handedness="right" if host["is_right"][i] else "left",
            handedness_score=host["handedness_score"][i],
            score=host["score"][i],
            keypoints_3d=host["keypoints_3d"][i],
            vertices=host["vertices"][i],
            pose=np.concatenate([host["global_orient"][i], host["hand_pose"][i]]),
            shape=host["betas"][i],
            transl=host["transl"][i],
            K=Ks[b],
            image_size=image_sizes[b],
        ))
    return [
        Prediction(hs, image_size=size, K=K, backend=backend, hand_model=hand_model, faces=faces)
        for hs, size, K in zip(per_image, image_sizes, Ks)
    ]
