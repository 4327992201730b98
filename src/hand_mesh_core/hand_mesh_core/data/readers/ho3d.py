"""HO-3D (v2 and v3) in its original release layout (Hampali et al., "HOnnotate", CVPR 2020).

Layout::

    root/<split>.txt                      lines "SEQUENCE/FRAME" (train.txt, evaluation.txt)
    root/<split>/<SEQ>/rgb/<FRAME>.png    640x480 (v2; .jpg in v3)
    root/<split>/<SEQ>/meta/<FRAME>.pkl   per-frame annotation dict

Meta keys used: ``camMat`` (K, 3x3 pixels); training split: ``handJoints3D`` [21, 3]
metres, ``handPose`` [48] (MANO full pose, axis-angle; HO3D's MANO uses
``flat_hand_mean=True``), ``handBeta`` [10], ``handTrans`` [3] metres; evaluation split:
``handJoints3D`` [3] (root only) and ``handBoundingBox`` (x0, y0, x1, y1).

* Frame: HO3D's 3D labels are in the OpenGL camera frame (y up, z backwards; the
  scripts' ``coordChangeMat``). Points are rotated into the optical frame with
  :data:`.frames.OPENGL_TO_OPTICAL`, and ``pose``/``transl`` with
  :func:`.frames.transform_mano_parameters` (exact, using the labelled wrist).
* Keypoints: MANO's 16 joints + 5 tips, mapped by :data:`.keypoint_orders.MANO21_TO_MEDIAPIPE`.
* One right hand per frame; frames whose meta file has no hand annotation give a sample
  without hands. Evaluation-split hands have no keypoints (``valid`` all False) but a box.
* Visibility: occlusion by the object is not recorded; visible = inside the image.

Pickle files can run code when loaded: open only dataset files you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.readers.base import SampleReader, require_dir, require_file
from hand_mesh_core.data.readers.frames import OPENGL_TO_OPTICAL, transform_mano_parameters, transform_points
from hand_mesh_core.data.readers.keypoint_orders import MANO21_TO_MEDIAPIPE, reorder
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image

IMAGE_SIZE = (640, 480)


def load_meta(path: Path) -> dict:
    """Read one HO3D meta pickle (Python 2 pickles need ``latin1``)."""
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


class Ho3dReader(SampleReader):
    """One HO3D split (``"train"`` or ``"evaluation"``); annotations are read per sample.

    Args:
        root: dataset folder holding ``<split>/`` (and ``<split>.txt``, else every
            ``<split>/*/meta/*.pkl`` is listed).

    Raises ``FileNotFoundError`` for missing folders or files, ``ValueError`` for an
    unknown split or a malformed meta file (on indexing).
    """

    dataset = "ho3d"

    def __init__(self, root: str | Path, split: str = "train") -> None:
        if split not in ("train", "evaluation"):
            raise ValueError(f"split must be 'train' or 'evaluation', got {split!r}")
        root = Path(root)
        self.split_dir = require_dir(root / split, "HO3D split folder")
        self.split = split
        listing = root / f"{split}.txt"
        if listing.is_file():
            self.frames = [tuple(line.strip().split("/")) for line in listing.read_text().splitlines() if line.strip()]
        else:
            self.frames = sorted((p.parent.parent.name, p.stem) for p in self.split_dir.glob("*/meta/*.pkl"))
        if any(len(f) != 2 for f in self.frames):
            raise ValueError(f"{listing}: lines must be SEQUENCE/FRAME")

    def __len__(self) -> int:
        return len(self.frames)

    def _image_path(self, seq: str, frame: str) -> Path:
        rgb = self.split_dir / seq / "rgb"
        png = rgb / f"{frame}.png"
        return png if png.is_file() else rgb / f"{frame}.jpg"

    def _hand(self, meta: dict, K: np.ndarray) -> HandLabel | None:
        joints = meta.get("handJoints3D")
        if joints is None:
            return None
        joints = np.asarray(joints, np.float64)
        if joints.shape == (3,):  # evaluation split: root only, plus a box
            box = meta.get("handBoundingBox")
            if box is None:
                return None
            return HandLabel(keypoints_2d=np.zeros((21, 2)), valid=np.zeros(21, bool), visibility=np.zeros(21, bool),
                             handedness="right", bbox=np.asarray(box, np.float64))
        if joints.shape != (21, 3):
            raise ValueError(f"handJoints3D must be [21, 3] or [3], got {joints.shape}")
        xyz = reorder(transform_points(joints, OPENGL_TO_OPTICAL), MANO21_TO_MEDIAPIPE)
        uv = project_np(xyz, K)
        pose = transl = shape = None
        if meta.get("handPose") is not None and meta.get("handTrans") is not None:
            # joints[0] is MANO's root joint, the wrist, in the OpenGL frame
            pose, transl = transform_mano_parameters(meta["handPose"], meta["handTrans"], joints[0], OPENGL_TO_OPTICAL)
        if meta.get("handBeta") is not None:
            shape = np.asarray(meta["handBeta"], np.float64)
        return HandLabel(
            keypoints_2d=uv, valid=np.ones(21, bool), visibility=visible_in_image(uv, IMAGE_SIZE), handedness="right",
            keypoints_3d=xyz, pose=pose, shape=shape, transl=transl,
        )

    def _sample(self, index: int) -> Sample:
        seq, frame = self.frames[index]
        meta = load_meta(require_file(self.split_dir / seq / "meta" / f"{frame}.pkl", "HO3D meta file"))
        K = meta.get("camMat")
        K = None if K is None else np.asarray(K, np.float64)
        hand = self._hand(meta, K) if K is not None else None
        return Sample(
            hands=[] if hand is None else [hand], image_path=self._image_path(seq, frame), image_size=IMAGE_SIZE, K=K,
            all_hands_labelled=hand is not None, dataset=self.dataset, sample_id=f"{seq}/{frame}",
        )


__all__ = ["Ho3dReader", "load_meta"]
