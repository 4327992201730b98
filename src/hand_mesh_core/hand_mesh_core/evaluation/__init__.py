"""Evaluation: accuracy metrics (:mod:`.metrics`), matching predictions to ground truth
(:mod:`.matching`) and the per-backend, per-subset benchmark behind ``hand-mesh eval``
(:mod:`.benchmark`)."""
