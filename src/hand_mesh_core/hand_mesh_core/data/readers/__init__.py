"""Readers of the public hand dataset formats, each returning :class:`~hand_mesh_core.data.sample.Sample`.

One module per format; every reader is a :class:`~.base.SampleReader` (a sequence of
samples) and documents its keypoint-order mapping (:mod:`.keypoint_orders`), units and
frames:

* :mod:`.mmpose_coco` — mmpose's COCO-style hand JSON (the ``annotated/`` subsets).
"""

from hand_mesh_core.data.readers.base import SampleReader
from hand_mesh_core.data.readers.mmpose_coco import MmposeCocoReader, read_annotated_subset

__all__ = ["SampleReader", "MmposeCocoReader", "read_annotated_subset"]
