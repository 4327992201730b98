"""FreiHAND in its original release layout (Zimmermann et al., ICCV 2019).

Layout (``FreiHAND_pub_v2``)::

    root/training_xyz.json     [N][21][3]  metres, camera frame
    root/training_K.json       [N][3][3]   pixels
    root/training_mano.json    [N][1][61]  (optional)
    root/training/rgb/%08d.jpg             224x224; 4 appearance versions: image i has
                                           the labels of i % N (green screen, then 3
                                           composited backgrounds)
    root/training/mask/%08d.jpg            binary hand mask of labels 0..N-1
    root/evaluation_{xyz,K,mano}.json, root/evaluation/rgb/%08d.jpg   (one version)

* Keypoints: the OpenPose / MediaPipe order (FreiHAND README), one right hand per image.
* 3D: FreiHAND's camera frame is the optical frame (its ``projectPoints`` divides
  ``K @ xyz`` by z), in metres; ``keypoints_2d`` is that projection.
* MANO: the 61 numbers are ``pose`` 48 (global orientation in the camera frame + 45
  hand pose, axis-angle; FreiHAND's MANO conventions), ``shape`` 10, then ``uv_root`` 2
  and ``scale`` 1 of FreiHAND's own weak-perspective fitting (``fh_utils.split_theta``).
  The last three are not a MANO translation, so ``transl`` is None.
* Visibility: FreiHAND records no occlusion; visible = inside the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.readers.base import SampleReader, load_json, require_dir
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image

IMAGE_SIZE = (224, 224)
#: Appearance versions of each training label in ``training/rgb``.
NUM_VERSIONS = 4


class FreiHandReader(SampleReader):
    """FreiHAND ``training`` or ``evaluation`` split.

    Args:
        root: folder holding ``<split>_xyz.json`` and ``<split>/rgb``.
        split: ``"training"`` or ``"evaluation"``.
        versions: appearance versions to include (training: subset of 0..3; default:
            every version whose first image exists). Sample ``k`` of version ``v`` is
            image ``v * N + k``.

    Raises ``FileNotFoundError`` for missing files, ``ValueError`` for inconsistent
    annotation counts or an unknown split / version.
    """

    dataset = "freihand"

    def __init__(self, root: str | Path, split: str = "training", versions: list[int] | None = None) -> None:
        if split not in ("training", "evaluation"):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        root = Path(root)
        self.rgb_dir = require_dir(root / split / "rgb", "FreiHAND rgb folder")
        self.mask_dir = root / split / "mask"
        self.xyz = np.asarray(load_json(root / f"{split}_xyz.json", "FreiHAND xyz file"), dtype=np.float64)
        self.K = np.asarray(load_json(root / f"{split}_K.json", "FreiHAND K file"), dtype=np.float64)
        n = len(self.xyz)
        if self.xyz.shape != (n, 21, 3) or self.K.shape != (n, 3, 3):
            raise ValueError(f"FreiHAND {split}: xyz {self.xyz.shape} and K {self.K.shape} do not describe N hands")
        mano_path = root / f"{split}_mano.json"
        self.mano = None
        if mano_path.is_file():
            self.mano = np.asarray(load_json(mano_path, "FreiHAND mano file"), dtype=np.float64).reshape(-1, 61)
            if len(self.mano) != n:
                raise ValueError(f"FreiHAND {split}: {len(self.mano)} MANO entries for {n} hands")
        max_versions = NUM_VERSIONS if split == "training" else 1
        if versions is None:
            versions = [v for v in range(max_versions) if (self.rgb_dir / f"{v * n:08d}.jpg").is_file()]
        if any(v not in range(max_versions) for v in versions):
            raise ValueError(f"versions must be in 0..{max_versions - 1}, got {versions}")
        self.versions = list(versions)
        self.num_labels = n

    def __len__(self) -> int:
        return self.num_labels * len(self.versions)

    def _sample(self, index: int) -> Sample:
        version, k = divmod(index, self.num_labels)
        image_id = self.versions[version] * self.num_labels + k
        xyz, K = self.xyz[k], self.K[k]
        uv = project_np(xyz, K)
        valid = np.ones(21, bool)
        mask_path = self.mask_dir / f"{k:08d}.jpg"
        hand = HandLabel(
            keypoints_2d=uv, valid=valid, visibility=visible_in_image(uv, IMAGE_SIZE), handedness="right",
            keypoints_3d=xyz,
            pose=None if self.mano is None else self.mano[k, :48],
            shape=None if self.mano is None else self.mano[k, 48:58],
            mask_path=mask_path if mask_path.is_file() else None,
        )
        return Sample(
            hands=[hand], image_path=self.rgb_dir / f"{image_id:08d}.jpg", image_size=IMAGE_SIZE, K=K,
            all_hands_labelled=True, dataset=self.dataset, sample_id=f"{image_id:08d}",
        )


__all__ = ["FreiHandReader"]
