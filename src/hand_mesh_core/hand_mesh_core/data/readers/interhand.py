"""InterHand2.6M in its original release layout (Moon et al., ECCV 2020).

Layout::

    root/annotations/<split>/InterHand2.6M_<split>_data.json     COCO "images" + "annotations"
    root/annotations/<split>/InterHand2.6M_<split>_camera.json   {capture: {"campos", "camrot",
                                                                  "focal", "princpt": {camera: ...}}}
    root/annotations/<split>/InterHand2.6M_<split>_joint_3d.json {capture: {frame_idx: {"world_coord":
                                                                  [42, 3] mm, "joint_valid", "hand_type"}}}
    root/images/<split>/<images[].file_name>

(``<split>`` is ``train``, ``val`` or ``test``.) ``images[]`` carry ``capture``,
``camera``, ``frame_idx``, ``width``, ``height``; ``annotations[]`` carry ``image_id``,
``bbox`` (x, y, w, h, the whole hand pair), ``joint_valid`` [42, 1], ``hand_type``
(``"right"``, ``"left"``, ``"interacting"``) and ``hand_type_valid``.

* Keypoints: 42 joints, right hand (0-20) then left hand (21-41), each tips first with
  the wrist last (``skeleton.txt``), mapped by :data:`.keypoint_orders.INTERHAND_TO_MEDIAPIPE`.
* 3D: world millimetres -> camera ``R (X - campos)`` (the dataset's ``world2cam``; x right,
  y down, z forward: the optical frame, projected with ``focal``/``princpt``) -> metres.
* ``joint_valid`` marks annotated joints (``valid``); visibility = valid and inside the
  image (occlusion is not recorded).
* Hands: each side with at least ``min_valid`` valid joints, restricted to the labelled
  ``hand_type`` when ``hand_type_valid``. ``all_hands_labelled`` only for interacting
  frames with both hands (a single-hand frame may show the other hand unlabelled).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.readers.base import SampleReader, load_json
from hand_mesh_core.data.readers.keypoint_orders import INTERHAND_TO_MEDIAPIPE, reorder
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image

#: side -> first of its 21 joints among the 42
HANDS = {"right": 0, "left": 21}
SPLITS = ("train", "val", "test")


class InterHandReader(SampleReader):
    """One InterHand2.6M split; one sample per annotated image.

    Args:
        root: dataset folder holding ``annotations/`` and ``images/``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        annotation_dir: folder of the three JSON files (default ``root/annotations/<split>``).
        image_dir: image root (default ``root/images/<split>``).
        min_valid: valid joints a hand needs to be labelled (>= 1).

    Raises ``FileNotFoundError`` for missing files and ``ValueError`` for an unknown
    split or annotations that refer to missing cameras/frames.
    """

    dataset = "interhand2.6m"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        annotation_dir: str | Path | None = None,
        image_dir: str | Path | None = None,
        min_valid: int = 1,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if min_valid < 1:
            raise ValueError(f"min_valid must be >= 1, got {min_valid}")
        root = Path(root)
        ann_dir = Path(annotation_dir) if annotation_dir is not None else root / "annotations" / split
        self.image_dir = Path(image_dir) if image_dir is not None else root / "images" / split
        prefix = ann_dir / f"InterHand2.6M_{split}"
        data = load_json(f"{prefix}_data.json", "InterHand2.6M data file")
        self.cameras = load_json(f"{prefix}_camera.json", "InterHand2.6M camera file")
        self.joints = load_json(f"{prefix}_joint_3d.json", "InterHand2.6M joint file")
        self.min_valid = int(min_valid)
        images = {im["id"]: im for im in data["images"]}
        self.items: list[tuple[dict, dict]] = []
        for ann in data["annotations"]:
            image = images.get(ann["image_id"])
            if image is None:
                raise ValueError(f"annotation {ann.get('id')} refers to unknown image {ann['image_id']}")
            cap, cam, frame = str(image["capture"]), str(image["camera"]), str(image["frame_idx"])
            if cap not in self.cameras or cam not in self.cameras[cap]["campos"]:
                raise ValueError(f"no camera {cam} of capture {cap} in the camera file")
            if frame not in self.joints.get(cap, {}):
                raise ValueError(f"no 3D joints for capture {cap} frame {frame}")
            self.items.append((image, ann))

    def __len__(self) -> int:
        return len(self.items)

    def _camera(self, image: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cap, cam = str(image["capture"]), str(image["camera"])
        c = self.cameras[cap]
        campos = np.asarray(c["campos"][cam], np.float64)
        camrot = np.asarray(c["camrot"][cam], np.float64)
        (fx, fy), (cx, cy) = c["focal"][cam], c["princpt"][cam]
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], np.float64)
        return campos, camrot, K

    def _sample(self, index: int) -> Sample:
        image, ann = self.items[index]
        campos, camrot, K = self._camera(image)
        world = np.asarray(self.joints[str(image["capture"])][str(image["frame_idx"])]["world_coord"], np.float64)
        cam_m = (world - campos) @ camrot.T / 1000.0  # [42, 3] metres, optical frame
        joint_valid = np.asarray(ann["joint_valid"], np.float64).reshape(42) > 0
        size = (int(image["width"]), int(image["height"]))
        sides = list(HANDS)
        if ann.get("hand_type_valid") and ann.get("hand_type") in HANDS:
            sides = [ann["hand_type"]]
        hands = []
        for side in sides:
            start = HANDS[side]
            valid = reorder(joint_valid[start : start + 21], INTERHAND_TO_MEDIAPIPE)
            if valid.sum() < self.min_valid:
                continue
            xyz = reorder(cam_m[start : start + 21], INTERHAND_TO_MEDIAPIPE)
            uv = np.where(valid[:, None], project_np(xyz, K), 0.0)
            hands.append(HandLabel(
                keypoints_2d=uv, valid=valid, visibility=valid & visible_in_image(uv, size), handedness=side,
                keypoints_3d=np.where(valid[:, None], xyz, 0.0),
            ))
        return Sample(
            hands=hands, image_path=self.image_dir / image["file_name"], image_size=size, K=K,
            all_hands_labelled=len(hands) == 2, dataset=self.dataset, sample_id=str(image["id"]),
        )


__all__ = ["InterHandReader"]
