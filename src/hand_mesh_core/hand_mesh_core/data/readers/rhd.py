"""Rendered Hand Pose Dataset (RHD) in its original release layout (Zimmermann & Brox, ICCV 2017).

Layout (``RHD_published_v2``)::

    root/<split>/anno_<split>.pickle   {sample_id: {"uv_vis": [42, 3], "xyz": [42, 3], "K": [3, 3]}}
    root/<split>/color/%05d.png        320x320 RGB
    root/<split>/mask/%05d.png         label map: 0 background, 1 person, 2-17 left hand,
                                       18-33 right hand (README: 2-4 left thumb tip..palm,
                                       ..., 17 left palm, 18-20 right thumb, ..., 33 right palm)

(``<split>`` is ``training`` or ``evaluation``.)

* Keypoints: 42 = left hand (0-20) then right hand (21-41), each in RHD's order (wrist,
  then every finger tip -> base), mapped by :data:`.keypoint_orders.RHD_TO_MEDIAPIPE`.
* ``uv_vis``: pixels and a visibility flag (1 = visible); every 2D position is known
  (rendered), so ``valid`` is all True and ``visibility`` = flag and inside the image.
* ``xyz``: metres in the camera frame, x right, y down, z forward (the optical frame;
  ``K @ xyz`` projects onto ``uv``).
* A hand becomes a label when at least ``min_visible`` of its keypoints are visible. Both
  hands of the rendered character are annotated, so every visible hand is labelled.

Pickle files can run code when loaded: open only dataset files you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from hand_mesh_core.data.readers.base import SampleReader, require_dir, require_file
from hand_mesh_core.data.readers.keypoint_orders import RHD_TO_MEDIAPIPE, reorder
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image

IMAGE_SIZE = (320, 320)
#: side -> (first of its 21 keypoints in the 42, mask label values of that hand)
HANDS = {"left": (0, tuple(range(2, 18))), "right": (21, tuple(range(18, 34)))}


class RhdReader(SampleReader):
    """RHD ``training`` or ``evaluation`` split, one sample per rendered image.

    Args:
        root: the ``RHD_published_v2`` folder.
        split: ``"training"`` or ``"evaluation"``.
        min_visible: keypoints a hand needs visible to be labelled (>= 1).

    Raises ``FileNotFoundError`` for missing files and ``ValueError`` for an unknown split
    or malformed annotations.
    """

    dataset = "rhd"

    def __init__(self, root: str | Path, split: str = "training", min_visible: int = 1) -> None:
        if split not in ("training", "evaluation"):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        if min_visible < 1:
            raise ValueError(f"min_visible must be >= 1, got {min_visible}")
        folder = Path(root) / split
        path = require_file(folder / f"anno_{split}.pickle", "RHD annotation pickle")
        with open(path, "rb") as f:
            anno = pickle.load(f, encoding="latin1")
        self.color_dir = require_dir(folder / "color", "RHD color folder")
        self.mask_dir = folder / "mask"
        self.min_visible = int(min_visible)
        self.ids = sorted(anno)
        try:
            self.uv_vis = np.stack([np.asarray(anno[i]["uv_vis"], np.float64) for i in self.ids])
            self.xyz = np.stack([np.asarray(anno[i]["xyz"], np.float64) for i in self.ids])
            self.K = np.stack([np.asarray(anno[i]["K"], np.float64) for i in self.ids])
        except (KeyError, ValueError) as e:
            raise ValueError(f"malformed RHD annotation in {path}: {e}") from e
        n = len(self.ids)
        if self.uv_vis.shape != (n, 42, 3) or self.xyz.shape != (n, 42, 3) or self.K.shape != (n, 3, 3):
            raise ValueError(f"RHD annotations must be uv_vis/xyz [42, 3] and K [3, 3], got {self.uv_vis.shape[1:]}, {self.xyz.shape[1:]}, {self.K.shape[1:]}")

    def __len__(self) -> int:
        return len(self.ids)

    def _sample(self, index: int) -> Sample:
        sid = self.ids[index]
        mask_path = self.mask_dir / f"{sid:05d}.png"
        hands = []
        for side, (start, labels) in HANDS.items():
            uv_vis = reorder(self.uv_vis[index, start : start + 21], RHD_TO_MEDIAPIPE)
            xyz = reorder(self.xyz[index, start : start + 21], RHD_TO_MEDIAPIPE)
            uv = uv_vis[:, :2]
            visible = (uv_vis[:, 2] == 1) & visible_in_image(uv, IMAGE_SIZE)
            if visible.sum() < self.min_visible:
                continue
            hands.append(HandLabel(
                keypoints_2d=uv, valid=np.ones(21, bool), visibility=visible, handedness=side, keypoints_3d=xyz,
                mask_path=mask_path if mask_path.is_file() else None, mask_values=labels,
            ))
        return Sample(
            hands=hands, image_path=self.color_dir / f"{sid:05d}.png", image_size=IMAGE_SIZE, K=self.K[index],
            all_hands_labelled=True, dataset=self.dataset, sample_id=f"{sid:05d}",
        )


__all__ = ["RhdReader"]
