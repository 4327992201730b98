"""Reader of the pseudo-label datasets written by ``hand-mesh pseudo-label``.

Layout and fields: :mod:`hand_mesh_core.data.pseudo_label` (format
``hand_mesh.pseudo_labels/1``: ``info.json``, ``labels.jsonl``, ``images/``). Frames without
an accepted hand (no stored image) are not samples.

Per hand, the :class:`~hand_mesh_core.data.sample.HandLabel` holds:

* ``keypoints_2d``: MediaPipe's landmarks (``keypoints="landmarks"``, the default: the
  teacher's direct image evidence) or the projection of the fitted hand model
  (``keypoints="fit"``: exactly consistent with ``keypoints_3d`` and ``K``);
* ``valid`` all True (the teacher places all 21 points); ``visibility`` = inside the image
  (MediaPipe does not say which keypoints are occluded);
* ``handedness``, ``keypoints_3d`` (metres, optical frame of the sample's ``K``), ``pose``,
  ``shape``, ``transl`` of the fitted model (``info.json`` names it), ``bbox`` = the
  projected fitted mesh, clipped to the image.

``all_hands_labelled`` is False: the teacher misses hands. Images where the teacher found
a hand but rejected it (low confidence, too small) are dropped by default
(``keep_partial=False``), because an unlabelled hand in a training image teaches the
detector that hands are background.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hand_mesh_core.data.pseudo_label import FORMAT, INFO_FILE, read_index
from hand_mesh_core.data.readers.base import SampleReader, require_dir, require_file
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image

KEYPOINT_SOURCES = ("landmarks", "fit")


class PseudoLabelReader(SampleReader):
    """Samples of a pseudo-label dataset folder.

    Args:
        root: the folder written by :func:`~hand_mesh_core.data.pseudo_label.write_pseudo_labels`.
        min_confidence: keep hands with at least this confidence (a hand of a frame that
            falls below counts as rejected); None = the dataset's own threshold.
        keypoints: ``"landmarks"`` or ``"fit"`` (see the module docstring).
        keep_partial: keep frames in which some hand was rejected.

    Attributes:
        info: the parsed ``info.json``; ``confidences``: per sample, the kept hands' confidences.

    Raises ``FileNotFoundError`` for a missing folder/index, ``ValueError`` for another
    format, a bad option or a malformed record.
    """

    dataset = "pseudo"

    def __init__(self, root: str | Path, min_confidence: float | None = None, keypoints: str = "landmarks",
                 keep_partial: bool = False) -> None:
        self.root = require_dir(root, "pseudo-label dataset")
        if keypoints not in KEYPOINT_SOURCES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {keypoints!r}")
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        self.info = json.loads(require_file(self.root / INFO_FILE, "pseudo-label info.json").read_text())
        if self.info.get("format") != FORMAT:
            raise ValueError(f"{self.root} is format {self.info.get('format')!r}, expected {FORMAT!r}")
        self.keypoints = keypoints
        self._records: list[dict] = []
        self.confidences: list[list[float]] = []
        threshold = -1.0 if min_confidence is None else float(min_confidence)
        for rec in read_index(self.root):
            if not rec.get("image"):
                continue
            hands = [h for h in rec["hands"] if h["confidence"] >= threshold]
            partial = bool(rec["rejected"]) or len(hands) < len(rec["hands"])
            if not hands or (partial and not keep_partial):
                continue
            self._records.append({**rec, "hands": hands})
            self.confidences.append([float(h["confidence"]) for h in hands])

    def __len__(self) -> int:
        return len(self._records)

    @property
    def num_hands(self) -> int:
        """Hands over all samples."""
        return sum(len(r["hands"]) for r in self._records)

    def _sample(self, index: int) -> Sample:
        rec = self._records[index]
        size = (int(rec["width"]), int(rec["height"]))
        labels = []
        for h in rec["hands"]:
            try:
                kp2d = np.asarray(h["landmarks_2d" if self.keypoints == "landmarks" else "keypoints_2d"], np.float32)
                labels.append(HandLabel(
                    keypoints_2d=kp2d,
                    valid=np.ones(21, bool),
                    visibility=visible_in_image(kp2d, size),
                    handedness=h["handedness"],
                    keypoints_3d=h["keypoints_3d"],
                    pose=h["pose"],
                    shape=h["shape"],
                    transl=h["transl"],
                    bbox=h["bbox"],
                ))
            except (KeyError, ValueError) as e:
                raise ValueError(f"malformed hand in {self.root} record {rec.get('key')!r}: {e}") from e
        return Sample(hands=labels, image_path=self.root / rec["image"], image_size=size, K=np.asarray(rec["K"]),
                      all_hands_labelled=False, dataset=self.dataset, sample_id=rec["key"])


__all__ = ["PseudoLabelReader", "KEYPOINT_SOURCES"]
