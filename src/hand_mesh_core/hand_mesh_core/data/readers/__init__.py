"""Readers of the public hand dataset formats, each returning :class:`~hand_mesh_core.data.sample.Sample`.

One module per format; every reader is a :class:`~.base.SampleReader` (a sequence of
samples) and documents its keypoint-order mapping (:mod:`.keypoint_orders`), units and
frames (:mod:`.frames`):

* :mod:`.mmpose_coco` — mmpose's COCO-style hand JSON (the shared ``annotated/`` subsets).
* :mod:`.freihand` — FreiHAND (``training_xyz.json``, ``training_K.json``, ``training_mano.json``).
* :mod:`.rhd` — RHD (``anno_training.pickle``, 42 keypoints, tips first).
* :mod:`.interhand` — InterHand2.6M (``*_data.json``, ``*_camera.json``, ``*_joint_3d.json``).
* :mod:`.coco_wholebody` — COCO-WholeBody hands (``lefthand_kpts`` / ``righthand_kpts``).
* :mod:`.onehand10k` — OneHand10K (``label_joint.txt``).
* :mod:`.ho3d` — HO3D v2/v3 (``meta/*.pkl``, OpenGL frame).
* :mod:`.pseudo_labels` — datasets written by ``hand-mesh pseudo-label`` (``labels.jsonl``).
"""

from hand_mesh_core.data.readers.base import SampleReader
from hand_mesh_core.data.readers.coco_wholebody import CocoWholeBodyHandReader
from hand_mesh_core.data.readers.freihand import FreiHandReader
from hand_mesh_core.data.readers.ho3d import Ho3dReader
from hand_mesh_core.data.readers.interhand import InterHandReader
from hand_mesh_core.data.readers.mmpose_coco import MmposeCocoReader, read_annotated_subset
from hand_mesh_core.data.readers.onehand10k import OneHand10kReader
from hand_mesh_core.data.readers.pseudo_labels import PseudoLabelReader
from hand_mesh_core.data.readers.rhd import RhdReader

__all__ = [
    "SampleReader",
    "MmposeCocoReader",
    "read_annotated_subset",
    "FreiHandReader",
    "RhdReader",
    "InterHandReader",
    "CocoWholeBodyHandReader",
    "OneHand10kReader",
    "Ho3dReader",
    "PseudoLabelReader",
]
