"""The reference two-stage pipeline: MediaPipe hand landmarks, then hand-model fitting.

- :mod:`.landmarker` — MediaPipe Tasks ``HandLandmarker`` (IMAGE / VIDEO mode) from the
  models inside the mediapipe wheel.
- :mod:`.fitting` — batched Levenberg-Marquardt fit of the hand model to the 2D landmarks
  (through the real ``K``) and the metric world landmarks, with the pose prior.
- :mod:`.pipeline` — :class:`TwoStagePredictor`, the ``"two_stage"`` backend of
  :func:`hand_mesh_core.create_predictor`.
"""
