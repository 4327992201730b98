"""Training and evaluation data: the sample type, public-format readers, synthetic images.

* :mod:`.sample` — :class:`~.sample.Sample` / :class:`~.sample.HandLabel`, the labelled
  image every reader and generator returns (pixels, metres, optical frame, MediaPipe order).
* :mod:`.readers` — one module per public dataset format.
* :mod:`.synthetic` — the synthetic multi-hand generator, built from :mod:`.pose_sampling`
  (poses within the joint limits, shapes), :mod:`.appearance` (skin, SH lighting),
  :mod:`.forearm`, :mod:`.backgrounds` and :mod:`.hard_rasterizer` (z-buffer rendering).
"""
