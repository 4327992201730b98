"""Hands of COCO-WholeBody (Jin et al., "Whole-Body Human Pose Estimation in the Wild", ECCV 2020).

Layout: ``coco_wholebody_{train,val}_v1.0.json`` (COCO ``images`` and per-person
``annotations``) and the COCO 2017 images (``train2017/``, ``val2017/``). Each person
annotation carries, per side ``left`` / ``right`` (the person's hand):

* ``<side>hand_valid``: whether the hand is annotated;
* ``<side>hand_box``: ``[x, y, w, h]`` pixels;
* ``<side>hand_kpts``: 21 x (u, v, flag) in the OpenPose / MediaPipe order (paper fig. 2),
  ``flag > 0`` for an annotated keypoint (as mmpose's ``CocoWholeBodyHandDataset``
  reads it; occlusion is not distinguished, so visibility = valid).

Only images with at least one annotated hand become samples, and COCO-WholeBody labels
the hands of annotated persons only (crowds and small persons are not), so
``all_hands_labelled`` is False. Annotations with ``iscrowd`` are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from hand_mesh_core.data.readers.base import SampleReader, load_json, require_dir
from hand_mesh_core.data.sample import HandLabel, Sample

SIDES = ("left", "right")


def _hand(ann: dict, side: str, min_valid: int) -> HandLabel | None:
    if not ann.get(f"{side}hand_valid"):
        return None
    kp = np.asarray(ann[f"{side}hand_kpts"], np.float64).reshape(21, 3)
    valid = kp[:, 2] > 0
    if valid.sum() < min_valid:
        return None
    x, y, w, h = (float(v) for v in ann[f"{side}hand_box"])
    return HandLabel(
        keypoints_2d=np.where(valid[:, None], kp[:, :2], 0.0), valid=valid, visibility=valid.copy(),
        handedness=side, bbox=np.array([x, y, x + w, y + h]),
    )


class CocoWholeBodyHandReader(SampleReader):
    """Images of COCO-WholeBody with their annotated hands.

    Args:
        json_path: ``coco_wholebody_<split>_v1.0.json``.
        image_dir: the matching COCO image folder (``train2017`` / ``val2017``).
        min_valid: annotated keypoints a hand needs to be kept (>= 1).

    Raises ``FileNotFoundError`` for a missing file or folder and ``ValueError`` for
    malformed annotations.
    """

    dataset = "coco_wholebody"

    def __init__(self, json_path: str | Path, image_dir: str | Path, min_valid: int = 1) -> None:
        if min_valid < 1:
            raise ValueError(f"min_valid must be >= 1, got {min_valid}")
        data = load_json(json_path, "COCO-WholeBody annotation file")
        self.image_dir = require_dir(image_dir, "COCO image folder")
        images = {im["id"]: im for im in data["images"]}
        hands: dict[int, list[HandLabel]] = defaultdict(list)
        for ann in data["annotations"]:
            if ann.get("iscrowd"):
                continue
            if ann["image_id"] not in images:
                raise ValueError(f"annotation {ann.get('id')} refers to unknown image {ann['image_id']}")
            for side in SIDES:
                hand = _hand(ann, side, min_valid)
                if hand is not None:
                    hands[ann["image_id"]].append(hand)
        self.image_ids = sorted(hands)
        self.images = images
        self.hands = dict(hands)

    def __len__(self) -> int:
        return len(self.image_ids)

    def _sample(self, index: int) -> Sample:
        image = self.images[self.image_ids[index]]
        return Sample(
            hands=self.hands[image["id"]], image_path=self.image_dir / image["file_name"],
            image_size=(int(image["width"]), int(image["height"])), all_hands_labelled=False,
            dataset=self.dataset, sample_id=str(image["id"]),
        )


__all__ = ["CocoWholeBodyHandReader"]
