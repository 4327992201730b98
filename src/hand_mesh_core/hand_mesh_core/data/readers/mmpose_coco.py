"""COCO-style hand keypoint JSON as mmpose releases its converted hand datasets.

Layout (one JSON per split, images beside it or under ``image_dir``)::

    {"images": [{"id", "file_name", "width", "height", ["cam_param": {"focal", "princpt"}]}],
     "annotations": [{"image_id", "bbox": [x, y, w, h], "keypoints": [u, v, flag] * 21 (flat or nested),
                      ["hand_type": "left"|"right"], ["joint_cam": [[x, y, z]] * 21 (mm)]}]}

This is the format of the subsets in ``../shared/data/annotated/`` (mmpose
``tests/data/{freihand,onehand10k,panoptic,rhd}``) and of mmpose's full annotation
downloads for FreiHAND, OneHand10K, CMU Panoptic HandDB and RHD.

* Keypoints: ``flag > 0`` marks an annotated keypoint (mmpose writes 1 for every
  annotated one and ``0, 0, 0`` for missing ones, so occlusion is not recorded:
  ``visibility == valid``). FreiHAND, OneHand10K and Panoptic are in the OpenPose order;
  RHD keeps its own tips-first order (see :mod:`.keypoint_orders`), selected by
  ``keypoint_order="rhd"``.
* ``bbox`` COCO ``[x, y, w, h]`` -> ``(x0, y0, x1, y1)``.
* RHD extras: ``joint_cam`` millimetres in the camera frame (x right, y down, z forward:
  the optical frame) -> metres; ``cam_param`` ``focal`` (fx, fy) and ``princpt`` (cx, cy)
  -> ``K``. Their projection matches ``keypoints`` (0.02 px mean on the shared subset).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from hand_mesh_core.data.readers.base import SampleReader, load_json, require_dir
from hand_mesh_core.data.readers.keypoint_orders import OPENPOSE_TO_MEDIAPIPE, RHD_TO_MEDIAPIPE, reorder
from hand_mesh_core.data.sample import HandLabel, Sample

#: ``keypoint_order`` name -> map to MediaPipe order.
KEYPOINT_ORDERS = {"openpose": OPENPOSE_TO_MEDIAPIPE, "rhd": RHD_TO_MEDIAPIPE}

#: How ``handedness`` may be decided: a fixed side, None (unknown), the annotation's
#: ``hand_type``, or the ``_l``/``_r`` file-name suffix (CMU Panoptic HandDB names each
#: crop ``<name>_l.jpg`` / ``<name>_r.jpg`` after the labelled hand).
HANDEDNESS_RULES = ("left", "right", None, "hand_type", "file_suffix")


def _k_from_cam_param(cam_param: dict) -> np.ndarray:
    fx, fy = (float(v) for v in cam_param["focal"])
    cx, cy = (float(v) for v in cam_param["princpt"])
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _side_from_suffix(file_name: str) -> str | None:
    stem = Path(file_name).stem.lower()
    if stem.endswith("_l"):
        return "left"
    if stem.endswith("_r"):
        return "right"
    return None


class MmposeCocoReader(SampleReader):
    """Samples of one mmpose COCO-style hand JSON (one sample per image, all its hands).

    Args:
        json_path: the annotation file.
        image_dir: folder of the images (default: the JSON's folder).
        keypoint_order: ``"openpose"`` (FreiHAND, OneHand10K, Panoptic, COCO-WholeBody) or
            ``"rhd"`` (tips-first, mmpose's RHD files).
        handedness: one of :data:`HANDEDNESS_RULES`.
        all_hands_labelled: whether every visible hand of each image is annotated
            (:attr:`Sample.all_hands_labelled`).
        dataset: name written into the samples (default: the JSON's stem).

    Raises ``FileNotFoundError`` for a missing JSON or image folder and ``ValueError`` for
    an unknown option or malformed annotations (wrong keypoint count, unknown image id,
    ``hand_type`` missing when ``handedness="hand_type"``).
    """

    def __init__(
        self,
        json_path: str | Path,
        image_dir: str | Path | None = None,
        *,
        keypoint_order: str = "openpose",
        handedness: str | None = None,
        all_hands_labelled: bool = False,
        dataset: str | None = None,
    ) -> None:
        if keypoint_order not in KEYPOINT_ORDERS:
            raise ValueError(f"keypoint_order must be one of {sorted(KEYPOINT_ORDERS)}, got {keypoint_order!r}")
        if handedness not in HANDEDNESS_RULES:
            raise ValueError(f"handedness must be one of {HANDEDNESS_RULES}, got {handedness!r}")
        json_path = Path(json_path)
        data = load_json(json_path, "mmpose COCO annotation file")
        self.image_dir = require_dir(image_dir if image_dir is not None else json_path.parent, "image folder")
        self.mapping = KEYPOINT_ORDERS[keypoint_order]
        self.handedness_rule = handedness
        self.all_hands_labelled = bool(all_hands_labelled)
        self.dataset = dataset if dataset is not None else json_path.stem
        try:
            self.images = sorted(data["images"], key=lambda im: im["file_name"])
            anns = data["annotations"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"{json_path} lacks COCO 'images'/'annotations': {e}") from e
        ids = {im["id"] for im in self.images}
        self._anns: dict[int, list[dict]] = defaultdict(list)
        for ann in anns:
            if ann["image_id"] not in ids:
                raise ValueError(f"annotation {ann.get('id')} refers to unknown image id {ann['image_id']}")
            if np.asarray(ann["keypoints"], dtype=np.float64).size != 63:
                raise ValueError(f"annotation {ann.get('id')} does not hold 21 (u, v, flag) keypoints")
            self._anns[ann["image_id"]].append(ann)

    def __len__(self) -> int:
        return len(self.images)

    def _hand(self, ann: dict, image: dict) -> HandLabel:
        kp = reorder(np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3), self.mapping)
        valid = kp[:, 2] > 0
        keypoints_2d = np.where(valid[:, None], kp[:, :2], 0.0)
        if self.handedness_rule in ("left", "right", None):
            side = self.handedness_rule
        elif self.handedness_rule == "hand_type":
            if ann.get("hand_type") not in ("left", "right"):
                raise ValueError(f"annotation {ann.get('id')} has no hand_type left/right: {ann.get('hand_type')!r}")
            side = ann["hand_type"]
        else:
            side = _side_from_suffix(image["file_name"])
        keypoints_3d = None
        if "joint_cam" in ann:
            keypoints_3d = reorder(np.asarray(ann["joint_cam"], dtype=np.float64), self.mapping) / 1000.0
        x, y, w, h = (float(v) for v in ann["bbox"])
        return HandLabel(
            keypoints_2d=keypoints_2d, valid=valid, visibility=valid.copy(), handedness=side,
            keypoints_3d=keypoints_3d, bbox=np.array([x, y, x + w, y + h]),
        )

    def _sample(self, index: int) -> Sample:
        image = self.images[index]
        hands = [self._hand(ann, image) for ann in self._anns.get(image["id"], [])]
        K = _k_from_cam_param(image["cam_param"]) if "cam_param" in image else None
        return Sample(
            hands=hands, image_path=self.image_dir / image["file_name"],
            image_size=(int(image["width"]), int(image["height"])), K=K,
            all_hands_labelled=self.all_hands_labelled, dataset=self.dataset, sample_id=str(image["id"]),
        )


#: The subsets of ``../shared/data/annotated/`` (``<name>/test_<name>.json``) and how to
#: read them: FreiHAND shows one right hand per image; OneHand10K one hand per image,
#: side not labelled; Panoptic labels one hand per file, named by its ``_l``/``_r``
#: suffix; RHD (mmpose's conversion) keeps one labelled hand per image although the
#: other may be visible.
ANNOTATED_SUBSETS: dict[str, dict] = {
    "freihand": {"handedness": "right", "all_hands_labelled": True},
    "onehand10k": {"handedness": None, "all_hands_labelled": True},
    "panoptic": {"handedness": "file_suffix", "all_hands_labelled": False},
    "rhd": {"handedness": "hand_type", "all_hands_labelled": False, "keypoint_order": "rhd"},
}


#: The real validation subsets of ``../shared/data/validation/`` (``root/<name>/<json>``),
#: for measuring and choosing checkpoints, thresholds and settings only: never trained on.
#: ge_realworld: 300 real 256x256 crops of one person's right hand with camera-frame 3D
#: joints and per-crop intrinsics (Ge et al., "3D Hand Shape and Pose Estimation from a
#: Single RGB Image", CVPR 2019, real-world test set; the folder's README). Every visible
#: hand is labelled (one per frame), so precision is defined. Side: the README calls it
#: the person's right hand, but the frames are mirror images (a selfie view): in the
#: camera frame the labelled 3D joints of all 300 frames form a *left* hand (the sign of
#: ``((index_MCP - wrist) x (pinky_MCP - wrist)) . (thumb_MCP - wrist)`` is the open left
#: hand model's on every frame, the right model's on none; palm towards the camera with the
#: thumb on the image's left), and the two_stage teacher calls 98 % of them left. A
#: backend reports the side of the hand in its camera, so the label here is "left".
VALIDATION_SUBSETS: dict[str, dict] = {
    "ge_realworld": {"json": "val_ge_realworld.json", "handedness": "left", "all_hands_labelled": True},
}


def read_validation_subset(root: str | Path, name: str) -> MmposeCocoReader:
    """Reader of one subset of the shared ``validation/`` folder (:data:`VALIDATION_SUBSETS`).

    Raises ``ValueError`` for an unknown name and ``FileNotFoundError`` when the files are missing.
    """
    if name not in VALIDATION_SUBSETS:
        raise ValueError(f"unknown validation subset {name!r}; known: {sorted(VALIDATION_SUBSETS)}")
    options = dict(VALIDATION_SUBSETS[name])
    folder = Path(root) / name
    return MmposeCocoReader(folder / options.pop("json"), folder, dataset=name, **options)


def read_annotated_subset(root: str | Path, name: str) -> MmposeCocoReader:
    """Reader of one subset of the shared ``annotated/`` folder (``root/<name>/test_<name>.json``).

    ``name`` is one of :data:`ANNOTATED_SUBSETS`; raises ``ValueError`` otherwise and
    ``FileNotFoundError`` when the files are missing.
    """
    if name not in ANNOTATED_SUBSETS:
        raise ValueError(f"unknown annotated subset {name!r}; known: {sorted(ANNOTATED_SUBSETS)}")
    folder = Path(root) / name
    return MmposeCocoReader(folder / f"test_{name}.json", folder, dataset=name, **ANNOTATED_SUBSETS[name])


__all__ = [
    "MmposeCocoReader",
    "read_annotated_subset",
    "read_validation_subset",
    "ANNOTATED_SUBSETS",
    "VALIDATION_SUBSETS",
    "KEYPOINT_ORDERS",
    "HANDEDNESS_RULES",
]
