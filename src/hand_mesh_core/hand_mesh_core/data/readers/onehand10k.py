"""OneHand10K in its original release layout (Wang, Peng, Liu, "Mask-pose cascaded CNN for
2D hand pose estimation from single color image", TCSVT 2018).

Layout::

    root/<Train|Test>/label_joint.txt   one line per image:
                                        name, width, height, hand_number, u0, v0, ..., u20, v20
    root/<Train|Test>/source/<name>     web photos
    root/<Train|Test>/mask/<stem>.png   binary hand mask

* Keypoints: the OpenPose / MediaPipe order (wrist, thumb MCP..tip, ...), pixels;
  ``-1`` marks a keypoint that is not annotated. Occlusion is not recorded
  (visibility = valid). Handedness is not labelled (None).
* Each image labels one hand; ``all_hands_labelled`` is True when ``hand_number`` is 1.
  Lines without any annotated keypoint are skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from hand_mesh_core.data.readers.base import SampleReader, require_dir, require_file
from hand_mesh_core.data.sample import HandLabel, Sample


class OneHand10kReader(SampleReader):
    """One OneHand10K split (``"Train"`` or ``"Test"``).

    Raises ``FileNotFoundError`` for a missing label file or image folder and
    ``ValueError`` for an unknown split or a line that is not
    ``name, width, height, hand_number`` followed by 42 numbers.
    """

    dataset = "onehand10k"

    def __init__(self, root: str | Path, split: str = "Train") -> None:
        if split not in ("Train", "Test"):
            raise ValueError(f"split must be 'Train' or 'Test', got {split!r}")
        folder = Path(root) / split
        path = require_file(folder / "label_joint.txt", "OneHand10K label file")
        self.source_dir = require_dir(folder / "source", "OneHand10K source folder")
        self.mask_dir = folder / "mask"
        self.rows: list[tuple[str, int, int, int, np.ndarray]] = []
        with open(path, newline="") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                row = [c.strip() for c in row if c.strip() != ""]
                if not row:
                    continue
                if len(row) != 4 + 42:
                    raise ValueError(f"{path}:{lineno}: expected 46 fields, got {len(row)}")
                try:
                    w, h, n = int(float(row[1])), int(float(row[2])), int(float(row[3]))
                    kp = np.asarray(row[4:], np.float64).reshape(21, 2)
                except ValueError as e:
                    raise ValueError(f"{path}:{lineno}: {e}") from e
                if not ((kp[:, 0] >= 0) & (kp[:, 1] >= 0)).any():
                    continue
                self.rows.append((row[0], w, h, n, kp))

    def __len__(self) -> int:
        return len(self.rows)

    def _sample(self, index: int) -> Sample:
        name, w, h, n, kp = self.rows[index]
        valid = (kp[:, 0] >= 0) & (kp[:, 1] >= 0)
        mask_path = self.mask_dir / f"{Path(name).stem}.png"
        hand = HandLabel(
            keypoints_2d=np.where(valid[:, None], kp, 0.0), valid=valid, visibility=valid.copy(), handedness=None,
            mask_path=mask_path if mask_path.is_file() else None,
        )
        return Sample(
            hands=[hand], image_path=self.source_dir / name, image_size=(w, h), all_hands_labelled=n == 1,
            dataset=self.dataset, sample_id=name,
        )


__all__ = ["OneHand10kReader"]
