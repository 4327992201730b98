"""The reference two-stage pipeline: MediaPipe hand landmarks, then hand-model fitting.

- :mod:`.landmarker` — MediaPipe Tasks ``HandLandmarker`` (IMAGE / VIDEO mode) from the
  models inside the mediapipe wheel.
- :mod:`.initialisation` — closed-form start of the fit (rays, inverse kinematics, translation).
- :mod:`.fitting` — batched Levenberg-Marquardt fit of the hand model to the 2D landmarks
  (through the real ``K``) and the metric world landmarks, with the pose prior (also the
  single-stage backend's keypoint refinement, :mod:`hand_mesh_core.single_stage.keypoint_refinement`).
- :mod:`.warm_starts` — a tracked hand's fit starts from its previous solution (stream mode).
- :mod:`.backend` — :class:`~.backend.TwoStagePredictor`, the ``"two_stage"`` backend of
  :func:`hand_mesh_core.create_predictor`.
"""
