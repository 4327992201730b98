"""The ``single_stage`` backend: one network pass for every hand of a frame.

- :mod:`.backend` — :class:`~.backend.SingleStagePredictor` (``create_predictor("single_stage")``):
  letterbox, the network run by a runtime, the one call of decoding, keypoint refinement,
  :class:`~hand_mesh_core.results.Prediction`;
- :mod:`.keypoint_refinement` — decode-time fit of each hand to the network's keypoint
  heatmaps (ours), with the two-stage backend's fitter;
- :mod:`.runtimes` — what runs the network: PyTorch, ONNX Runtime, TensorRT, and the ONNX
  export they share.

The network itself (modules, config, decoding) is :mod:`hand_mesh_core.network`; its
training is :mod:`hand_mesh_core.training`.
"""
