"""The base class of every backend, :class:`Predictor`, and the input policies it applies.

A backend is a subclass of :class:`Predictor` that implements :meth:`Predictor._predict`
(registered in :mod:`hand_mesh_core.backends`, built by :func:`~hand_mesh_core.backends.create_predictor`).
The base class does everything the backends share, so that they all accept the same
inputs and return the same :class:`~hand_mesh_core.results.Prediction`:

* the image is converted to ``HxWx3 uint8`` RGB (grayscale, RGBA, 16-bit and float images
  are accepted, see :func:`prepare_image`);
* images larger than ``max_image_side`` are downscaled (area interpolation) before the
  backend sees them, with ``K`` scaled to match; 2D outputs are mapped back to the input
  pixels and the 3D outputs, being metric in the optical frame, do not change;
* ``K`` is validated (:func:`hand_mesh_core.camera.validate_intrinsics`) or, when None,
  the default of :func:`hand_mesh_core.camera.intrinsics_from_fov` is used;
* ``device="auto"`` resolves to CUDA when available, else CPU;
* in stream mode (``video=True``) hands get a ``track_id`` from the shared tracker
  (:mod:`hand_mesh_core.tracking`) and, with ``smoothing=True``, are One-Euro filtered
  (:mod:`hand_mesh_core.smoothing`) using the frames' timestamps. A frame whose size differs
  from the previous frame's starts a new stream (as :meth:`Predictor.reset`): the pixels of
  the old frames say nothing about it, and state carried over produced duplicate hands.
  Frame times are kept increasing, and a jump back of more than 1 s (a bag played again)
  starts a new stream too (:func:`stream_timestamp`, the one such policy: the ROS node
  passes its image stamps through it).
"""

from __future__ import annotations

import abc
import dataclasses
import time
from typing import Any

import cv2
import numpy as np

from hand_mesh_core.camera import intrinsics_from_fov, validate_intrinsics
from hand_mesh_core.media import to_rgb8
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_core.smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF, HandSmoother, SmoothingSettings
from hand_mesh_core.tracking import HandTracker

#: Hand models a predictor may use (``HandModel(backend=...)``).
HAND_MODELS = ("open", "mano")

#: Default longest image side (pixels) a backend works at; larger inputs are downscaled.
DEFAULT_MAX_IMAGE_SIDE = 1920

#: Seconds a stream frame's time may lie before the previous frame's and still be taken as
#: the same stream (moved past it); a larger jump back (a bag played again, a restarted
#: camera) starts a new stream.
STREAM_RESTART_S = 1.0

#: Seconds a stream frame's time is moved past the previous frame's when it is not after it
#: (1 ms, the convention of MediaPipe's VIDEO mode).
STREAM_MIN_STEP_S = 1e-3


def stream_timestamp(timestamp: float, previous: float | None) -> tuple[float, bool]:
    """The time (s) a stream frame is processed at, and whether it starts a new stream.

    Args:
        timestamp: the frame's time in seconds (any epoch, e.g. a ROS header stamp).
        previous: the time returned for the previous frame of the stream, or None for the
            first frame.

    Returns:
        ``(time, restart)``: ``(timestamp, False)`` for a first frame or one after
        ``previous + STREAM_MIN_STEP_S``; ``(previous + STREAM_MIN_STEP_S, False)`` for one
        at most :data:`STREAM_RESTART_S` before that (times must increase); and
        ``(timestamp, True)`` for a jump back of more than :data:`STREAM_RESTART_S`, which
        the caller takes as a new stream. Raises nothing.
    """
    if previous is None:
        return timestamp, False
    if timestamp < previous - STREAM_RESTART_S:
        return timestamp, True
    return max(timestamp, previous + STREAM_MIN_STEP_S), False


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` if torch sees a GPU else ``"cpu"``; checks explicit choices.

    Accepts ``"cpu"``, ``"cuda"``, ``"cuda:N"`` and ``"auto"``. Raises ``ValueError`` for
    anything else, and for a CUDA device when torch has no CUDA device.
    """
    import torch

    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but torch sees no CUDA device")
        return device
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def prepare_image(image: Any) -> np.ndarray:
    """Return ``image`` as a contiguous ``HxWx3 uint8`` RGB array.

    Accepted: ``HxW`` / ``HxWx1`` grayscale, ``HxWx3`` RGB, ``HxWx4`` RGBA (alpha
    dropped), as uint8, uint16 (scaled by 1/257) or float (``[0, 1]`` or ``[0, 255]``).
    Colour images are taken as RGB (not OpenCV's BGR). Raises ``ValueError`` for
    anything else: other dtypes or channel counts, an empty image, NaN values.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {image.shape}")
    return np.ascontiguousarray(to_rgb8(image, assume_bgr=False))


def _scale_hand_2d(hand: HandResult, sx: float, sy: float) -> HandResult:
    """Copy of ``hand`` with its 2D fields (pixels) multiplied by ``(sx, sy)``."""
    scale2 = np.array([sx, sy], np.float32)
    return dataclasses.replace(hand, bbox=hand.bbox * np.tile(scale2, 2), keypoints_2d=hand.keypoints_2d * scale2)


class Predictor(abc.ABC):
    """Base class of every backend: input checks, default intrinsics, rescaling, timing.

    Args:
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        max_hands: most hands reported per image (>= 1).
        score_threshold: the backend's detection threshold in [0, 1] (two_stage: MediaPipe's
            palm-detection and presence thresholds; single_stage: the centre-heatmap peak).
        hand_model: ``"open"`` (the shipped MIT model) or ``"mano"`` (needs ``mano_path``).
        mano_path: folder or file of the user's MANO model (``HandModel(model_path=...)``).
        video: stream mode: consecutive calls are frames of one video (``track_id``,
            warm starts, smoothing); call :meth:`reset` between videos.
        max_image_side: longest side (pixels) the backend works at; larger inputs are
            downscaled and the 2D results mapped back.
        smoothing: One-Euro filtering of the tracked hands (:mod:`hand_mesh_core.smoothing`);
            needs ``video=True``.
        smoothing_min_cutoff: Hz (> 0), cutoff for a still hand (lower = smoother).
        smoothing_beta: Hz per m/s (>= 0), rise of the cutoff with the hand's speed
            (higher = less lag on fast motion).
        smoothing_d_cutoff: Hz (> 0), cutoff of the speed estimate.

    Raises ``ValueError`` for an out-of-range option. Subclasses set :attr:`backend` and
    implement :meth:`_predict`.
    """

    #: Registry name of the backend (``"two_stage"``, ``"single_stage"``).
    backend: str = ""

    #: Side (pixels) of the square the backend's detector sees the whole frame at (the
    #: tiled mode's "auto" policy, :mod:`hand_mesh_core.tiling`, sizes tiles by it).
    detector_input_side: int = 256

    #: True for backends whose :meth:`_predict` sets ``track_id`` itself with
    #: :attr:`tracker` (two_stage: before fitting, for warm starts); otherwise the base
    #: class assigns ids to the hands ``_predict`` returns.
    tracks_in_predict: bool = False

    def __init__(
        self,
        *,
        device: str = "auto",
        max_hands: int = 4,
        score_threshold: float = 0.5,
        hand_model: str = "open",
        mano_path: str | None = None,
        video: bool = False,
        max_image_side: int = DEFAULT_MAX_IMAGE_SIDE,
        smoothing: bool = False,
        smoothing_min_cutoff: float = DEFAULT_MIN_CUTOFF,
        smoothing_beta: float = DEFAULT_BETA,
        smoothing_d_cutoff: float = DEFAULT_D_CUTOFF,
    ) -> None:
        if int(max_hands) != max_hands or max_hands < 1:
            raise ValueError(f"max_hands must be an integer >= 1, got {max_hands!r}")
        if not 0.0 <= float(score_threshold) <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
        if hand_model not in HAND_MODELS:
            raise ValueError(f"hand_model must be one of {HAND_MODELS}, got {hand_model!r}")
        if hand_model == "mano" and not mano_path:
            raise ValueError("hand_model='mano' needs mano_path (MANO files cannot be shipped)")
        if int(max_image_side) != max_image_side or max_image_side < 32:
            raise ValueError(f"max_image_side must be an integer >= 32, got {max_image_side!r}")
        self.device = resolve_device(device)
        self.max_hands = int(max_hands)
        self.score_threshold = float(score_threshold)
        self.hand_model_kind = hand_model
        self.mano_path = mano_path
        self.video = bool(video)
        self.max_image_side = int(max_image_side)
        #: Track ids of the current stream (used in stream mode only).
        self.tracker = HandTracker()
        #: One-Euro smoother of the current stream, or None when smoothing is off.
        self.smoother: HandSmoother | None = None
        self._stream_size: tuple[int, int] | None = None
        self._stream_time: float | None = None
        #: Streams started because a frame's time jumped back by more than
        #: :data:`STREAM_RESTART_S` (stream mode; a bag played again, a restarted camera).
        self.stream_restarts = 0
        #: ``{"left", "right"}`` hand models the backend poses its hands with (and smoothing
        #: re-poses them with); set by :meth:`load_hand_models`, None until then.
        self.hand_models: dict[str, Any] | None = None
        #: Triangles of each side's mesh, ``{side: int32 [F, 3]}`` (copied into predictions).
        self.faces: dict[str, np.ndarray] | None = None
        #: Name of the hand model (``HandModel.name``), copied into predictions.
        self.hand_model_name: str = hand_model
        self.set_smoothing(smoothing, smoothing_min_cutoff, smoothing_beta, smoothing_d_cutoff)

    def set_smoothing(
        self,
        enabled: bool,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = DEFAULT_D_CUTOFF,
    ) -> None:
        """Turn One-Euro smoothing on or off or change its parameters, also mid-stream.

        Running filters keep their state when only the parameters change. Raises
        ``ValueError`` for parameters out of range, or ``enabled`` without ``video=True``.
        """
        settings = SmoothingSettings(float(min_cutoff), float(beta), float(d_cutoff))
        if enabled and not self.video:
            raise ValueError("smoothing needs stream mode (video=True): it filters hands over consecutive frames")
        if not enabled:
            self.smoother = None
        elif self.smoother is None:
            self.smoother = HandSmoother(settings)
        else:
            self.smoother.settings = settings

    def load_hand_models(self) -> dict[str, Any]:
        """Load ``{"left": HandModel, "right": HandModel}`` of the configured kind on
        :attr:`device` and make them this predictor's: sets :attr:`hand_models`,
        :attr:`faces` (``{side: int32 [F, 3]}``) and :attr:`hand_model_name`; returns the models.

        Raises what :class:`~hand_mesh_core.hand_model.HandModel` raises for missing or
        corrupt model files.
        """
        from hand_mesh_core.hand_model import HandModel

        self.hand_models = {
            side: HandModel(side=side, backend=self.hand_model_kind, model_path=self.mano_path).to(self.device).eval()
            for side in ("left", "right")
        }
        self.faces = {side: m.faces.detach().cpu().numpy().astype(np.int32) for side, m in self.hand_models.items()}
        self.hand_model_name = str(self.hand_models["right"].name)
        return self.hand_models

    def predict(self, image: np.ndarray, K: np.ndarray | None = None, *, timestamp: float | None = None) -> Prediction:
        """Find every hand in ``image`` and reconstruct it.

        Args:
            image: ``HxWx3 uint8`` RGB (other layouts converted, see :func:`prepare_image`).
            K: ``3x3`` intrinsics in pixels (or 9 row-major numbers); None = the default
                ``intrinsics_from_fov(W, H)`` (60 degrees horizontal field of view).
            timestamp: time of the frame in seconds (stream mode: tracks and smoothing
                run on it). None = a monotonic clock. In stream mode a time not after the
                previous frame's is moved 1 ms past it (the convention of MediaPipe's VIDEO
                mode), and a jump back of more than 1 s starts a new stream as
                :meth:`reset` does, counted in :attr:`stream_restarts`
                (:func:`stream_timestamp`).

        Returns:
            A :class:`Prediction` in the input's pixels, with ``K`` as used, hands sorted
            by descending ``score`` and at most ``max_hands`` of them. In stream mode its
            ``timings["stream"]`` is the time of this class's stream step (track ids for
            backends that do not set them, smoothing).

        Raises:
            ValueError: bad image or ``K``.
        """
        t0 = time.perf_counter()
        rgb = prepare_image(image)
        height, width = rgb.shape[:2]
        K = intrinsics_from_fov(width, height) if K is None else validate_intrinsics(K)
        work, K_work, (sx, sy) = self._working_image(rgb, K)
        stamp = time.monotonic() if timestamp is None else float(timestamp)
        if self.video:
            if self._stream_size not in (None, (width, height)):
                self.reset()
            stamp, restart = stream_timestamp(stamp, self._stream_time)
            if restart:
                self.reset()
                self.stream_restarts += 1
            self._stream_size, self._stream_time = (width, height), stamp
        pred = self._predict(work, K_work, stamp)
        hands = sorted(pred, key=lambda h: -h.score)[: self.max_hands]
        timings = dict(pred.timings)
        if self.video:
            t1 = time.perf_counter()
            hands = self._follow(hands, K_work, (work.shape[1], work.shape[0]), stamp)
            timings["stream"] = (time.perf_counter() - t1) * 1000.0  # ids (unless set) + smoothing
        return self._in_input_pixels(pred, hands, (width, height), K, (sx, sy), timings, t0)

    @staticmethod
    def _in_input_pixels(pred: Prediction, hands: list[HandResult], image_size: tuple[int, int], K: np.ndarray,
                         scale: tuple[float, float], timings: dict[str, float], t0: float) -> Prediction:
        """The last step of :meth:`predict`: ``hands`` of the working image ``pred`` with
        their 2D fields mapped back by ``1 / scale`` into the input image (``image_size``,
        ``K``), ``timings["total"]`` measured from ``t0`` (``time.perf_counter``)."""
        sx, sy = scale
        if (sx, sy) != (1.0, 1.0):
            hands = [_scale_hand_2d(h, 1.0 / sx, 1.0 / sy) for h in hands]
        timings["total"] = (time.perf_counter() - t0) * 1000.0
        return Prediction(
            hands, image_size=image_size, K=K, backend=pred.backend, hand_model=pred.hand_model,
            faces=pred.faces, timings=timings,
        )

    def _follow(self, hands: list[HandResult], K: np.ndarray, size: tuple[int, int],
                timestamp: float) -> list[HandResult]:
        """Stream mode: ``track_id`` for each hand (unless the backend set them), then smoothing."""
        if not self.tracks_in_predict:
            kp = np.stack([h.keypoints_2d for h in hands]) if hands else np.zeros((0, 21, 2))
            ids = self.tracker.update([h.handedness for h in hands], kp, timestamp)
            hands = [dataclasses.replace(h, track_id=i) for h, i in zip(hands, ids)]
        if self.smoother is not None:
            if self.hand_models is None:
                raise RuntimeError(f"backend {self.backend!r} has no hand_models: smoothing rebuilds hands with them")
            self.smoother.retain(self.tracker.track_ids)
            hands = self.smoother(hands, K, size, self.hand_models, timestamp)
        return hands

    def _working_image(self, rgb: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
        """Downscale to ``max_image_side`` if needed; returns image, matching K, (sx, sy).

        With pixel coordinates measured from the image corner, resizing by ``(sx, sy)``
        maps ``u -> sx u`` and ``v -> sy v`` exactly, so ``K' = diag(sx, sy, 1) K``.
        """
        height, width = rgb.shape[:2]
        longest = max(width, height)
        if longest <= self.max_image_side:
            return rgb, K, (1.0, 1.0)
        s = self.max_image_side / longest
        new_w, new_h = max(1, round(width * s)), max(1, round(height * s))
        small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
        sx, sy = new_w / width, new_h / height
        return small, np.diag([sx, sy, 1.0]) @ K, (sx, sy)

    @abc.abstractmethod
    def _predict(self, image: np.ndarray, K: np.ndarray, timestamp: float) -> Prediction:
        """Backend work on a checked ``HxWx3 uint8`` RGB image and its validated ``K``.

        Returns a :class:`Prediction` for this (possibly downscaled) image; the base
        class sorts, truncates to ``max_hands`` and maps 2D fields back to the input.
        """

    def reset(self) -> None:
        """Forget the state of the current stream (tracks, filters; backends add theirs).

        The next frame starts a new stream: ids start again at 1.
        """
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()
        self._stream_size = self._stream_time = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(backend={self.backend!r}, device={self.device!r}, video={self.video})"


__all__ = [
    "Predictor",
    "resolve_device",
    "prepare_image",
    "stream_timestamp",
    "STREAM_RESTART_S",
    "STREAM_MIN_STEP_S",
    "DEFAULT_MAX_IMAGE_SIDE",
    "HAND_MODELS",
]
