"""The ``"two_stage"`` backend: MediaPipe hand landmarks, then hand-model fitting.

``create_predictor("two_stage", ...)`` returns a :class:`TwoStagePredictor`. Per image:

1. MediaPipe Tasks ``HandLandmarker`` (:mod:`.landmarker`) finds up to ``max_hands``
   hands: 21 2D landmarks (pixels), 21 metric hand-centred world landmarks, handedness;
2. :class:`~.fitting.HandFitter` fits the hand model to all of them in one batch, through
   the real ``K`` (metric 3D in the optical frame; the depth comes from the hand's metric
   size against its size in pixels);
3. in video mode, hands get their ``track_id`` from the shared tracker
   (:mod:`hand_mesh_core.tracking`) *before* fitting, on MediaPipe's landmarks, so that a
   tracked hand's fit starts from its previous solution (:mod:`.tracking`), with the hand
   model of the side its track's accumulated handedness evidence favours (MediaPipe's
   per-frame label flickers on ambiguous hands; a flip used to swap the model and make the
   fitted depth jump). Smoothing, when on, is applied by the base class to the fitted
   hands; the warm starts keep the raw fits.

``keypoints_2d`` of a result is the projection of the fitted model's keypoints (so 2D and
3D agree exactly); MediaPipe's raw landmarks are available from :meth:`run_stages`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from hand_mesh_core.predictor import Predictor
from hand_mesh_core.results import Prediction, posed_hand_result
from hand_mesh_core.two_stage.fitting import FitResult, FitSettings, HandFitter
from hand_mesh_core.two_stage.landmarker import HandLandmarker, HandLandmarks
from hand_mesh_core.two_stage.warm_starts import WarmStarts


@dataclasses.dataclass
class StageOutput:
    """Everything one frame produced, stage by stage (for benchmarks and debugging).

    Attributes:
        landmarks: MediaPipe's hands (raw landmarks; in video mode the handedness and its
            score are the hand's track's, see :meth:`~hand_mesh_core.tracking.HandTracker.side`).
        fit: the fitted hand models, in the same order.
        track_ids: ``track_id`` per hand (0 outside video mode).
        timings: milliseconds, ``"landmarks"`` (MediaPipe) and ``"fitting"`` (fit + mesh).
    """

    landmarks: list[HandLandmarks]
    fit: FitResult
    track_ids: list[int]
    timings: dict[str, float]


class TwoStagePredictor(Predictor):
    """MediaPipe HandLandmarker + batched hand-model fitting (the reference pipeline).

    Options (besides the common ones of :class:`~hand_mesh_core.predictor.Predictor`):

    * ``score_threshold`` is MediaPipe's palm-detection and hand-presence threshold.
      MediaPipe Tasks reports no per-hand detection probability, so a result's ``score``
      is its handedness confidence (every reported hand passed ``score_threshold``). In
      video mode that is the confidence of the hand's track (its accumulated evidence,
      :meth:`~hand_mesh_core.tracking.HandTracker.side`), which grows as the hand stays.
    * ``min_tracking_confidence``: MediaPipe's VIDEO-mode threshold to keep tracking a hand
      rather than running the palm detector again, in [0, 1].
    * ``fit``: :class:`~.fitting.FitSettings` or a dict of its fields.
    * ``device``: where the fit runs. ``"auto"`` means the CPU here: a batch of a few hands
      is faster there than on a GPU (launch overheads dominate), and MediaPipe's Python
      wheel runs on the CPU anyway. ``"cuda"`` is honoured when asked for.

    One predictor serves one thread at a time (MediaPipe's graph and the video tracks are
    stateful); use one per thread or a lock. The fit sets torch to one intra-op thread
    while it runs (:func:`~.fitting.single_cpu_thread`).
    """

    backend = "two_stage"
    tracks_in_predict = True
    #: MediaPipe's palm detector sees the frame resized to 192x192 (palm_detection_full).
    detector_input_side = 192

    def __init__(
        self,
        *,
        device: str = "auto",
        min_tracking_confidence: float = 0.5,
        fit: FitSettings | dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(device="cpu" if device == "auto" else device, **options)
        settings = fit if isinstance(fit, FitSettings) else FitSettings(**(fit or {}))
        self.landmarker = HandLandmarker(
            max_hands=self.max_hands,
            video=self.video,
            min_detection_confidence=self.score_threshold,
            min_presence_confidence=self.score_threshold,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.fitter = HandFitter(self.load_hand_models(), settings, device=self.device)
        #: Previous solution of each tracked hand (stream mode).
        self.warm_starts = WarmStarts()

    def run_stages(self, image: np.ndarray, K: np.ndarray, timestamp: float | None = None) -> StageOutput:
        """Landmarks, fit and tracks for one checked ``HxWx3 uint8`` RGB image and its ``K``.

        ``timestamp`` (seconds) is needed in video mode. Unlike :meth:`predict` this does
        no input conversion or rescaling and keeps MediaPipe's raw landmarks.
        """
        t0 = time.perf_counter()
        hands = self.landmarker.detect(image, timestamp if self.video else None)
        t1 = time.perf_counter()
        sides = [h.handedness for h in hands]
        kp2d = np.stack([h.keypoints_2d for h in hands]) if hands else np.zeros((0, 21, 2))
        world = np.stack([h.world for h in hands]) if hands else np.zeros((0, 21, 3))
        ids = [0] * len(hands)
        if self.video:
            ids = self.tracker.update(sides, kp2d, timestamp, [h.handedness_score for h in hands])
            decided = [self.tracker.side(i) for i in ids]
            hands = [dataclasses.replace(h, handedness=s, handedness_score=p) for h, (s, p) in zip(hands, decided)]
            sides = [s for s, _ in decided]
        fit = self.fitter.fit(sides, kp2d, world, K, init=self.warm_starts.get(ids, sides))
        if self.video:
            self.warm_starts.retain(self.tracker.track_ids)
            self.warm_starts.put(ids, sides, fit.params)
        t2 = time.perf_counter()
        return StageOutput(hands, fit, ids, {"landmarks": (t1 - t0) * 1e3, "fitting": (t2 - t1) * 1e3})

    def _predict(self, image: np.ndarray, K: np.ndarray, timestamp: float) -> Prediction:
        out = self.run_stages(image, K, timestamp)
        height, width = image.shape[:2]
        fit = out.fit
        results = [
            posed_hand_result(
                handedness=lm.handedness,
                handedness_score=lm.handedness_score,
                score=lm.handedness_score,
                keypoints_3d=fit.keypoints_3d[n],
                vertices=fit.vertices[n] if fit.vertices is not None else None,
                pose=fit.params[n, :48],
                shape=fit.part("betas")[n],
                transl=fit.part("transl")[n],
                K=K,
                image_size=(width, height),
                track_id=out.track_ids[n],
            )
            for n, lm in enumerate(out.landmarks)
        ]
        return Prediction(
            results, image_size=(width, height), K=K, backend=self.backend,
            hand_model=self.hand_model_name, faces=self.faces, timings=out.timings,
        )

    def reset(self) -> None:
        """Start a new stream: MediaPipe's tracking, the tracks and the warm starts are cleared."""
        super().reset()
        self.landmarker.reset()
        self.warm_starts.clear()


__all__ = ["TwoStagePredictor", "StageOutput"]
