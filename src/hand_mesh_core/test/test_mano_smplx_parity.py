"""``HandModel(backend="mano")`` against ``smplx.MANO``, the layer MANO users trust.

Both read the same synthetic MANO-format files (:mod:`synthetic_mano`, plain-array
flavour: smplx reads them without chumpy), in float64, and must give the same vertices,
joints and 21 keypoints within 1e-6 m, for both sides, ``flat_hand_mean`` on and off, PCA
and full axis-angle pose, non-zero betas, a global rotation and a translation.

Conventions that differ (see ``HandModel``'s and ``mano_loader``'s docstrings):

* smplx does not repair ``MANO_LEFT.pkl``'s flipped ``shapedirs`` x component; its users
  apply ``shapedirs[:, 0, :] *= -1`` to the left layer themselves, as done here;
* ``smplx.MANO`` returns MANO's 16 joints only (its fingertip selector is disabled for
  MANO); the 21 keypoints are those joints plus smplx's tip vertices
  ``[744, 320, 443, 554, 671]`` (thumb..pinky), reordered to MediaPipe/OpenPose order with
  the index map of ``shared/notes/hand-models.md``, written out here independently;
* defaults: smplx ``flat_hand_mean=False, use_pca=True, num_pca_comps=6``; HandModel
  ``flat_hand_mean=True, use_pca=False``: every option is passed explicitly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hand_mesh_core.hand_model import HandModel
from synthetic_mano import write_mano_files

smplx = pytest.importorskip("smplx", reason="smplx is installed by scripts/setup_env.sh (requirements/smplx.txt)")

TOLERANCE_M = 1e-6
#: smplx's MANO fingertip vertex ids (smplx/vertex_ids.py, 'mano'): thumb, index, middle, ring, pinky
SMPLX_TIPS = [744, 320, 443, 554, 671]
#: "MANO 16 joints + 5 tips (thumb..pinky)" -> OpenPose/MediaPipe 21 (shared/notes/hand-models.md)
TO_OPENPOSE = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]
BATCH = 3


@pytest.fixture(scope="module")
def plain_mano_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mano_plain")
    write_mano_files(folder, chumpy=False, seed=1)
    return folder


def _inputs(pose_dim: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale):
        return scale * torch.randn(*shape, dtype=torch.float64, generator=g)

    return {"betas": randn(BATCH, 10, scale=1.5), "global_orient": randn(BATCH, 3, scale=1.0),
            "hand_pose": randn(BATCH, pose_dim, scale=0.5), "transl": randn(BATCH, 3, scale=0.3)}


def _smplx_layer(folder, side: str, flat_hand_mean: bool, use_pca: bool, num_pca_comps: int):
    layer = smplx.MANO(str(folder), is_rhand=side == "right", use_pca=use_pca,
                       num_pca_comps=num_pca_comps, flat_hand_mean=flat_hand_mean,
                       batch_size=BATCH, dtype=torch.float64)
    if side == "left":
        with torch.no_grad():
            layer.shapedirs[:, 0, :] *= -1  # the left-file fix smplx leaves to its users
    return layer


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("flat_hand_mean", [True, False])
@pytest.mark.parametrize("use_pca", [False, True], ids=["full_pose", "pca12"])
def test_vertices_joints_keypoints_match_smplx(plain_mano_dir, side, flat_hand_mean, use_pca):
    num_pca_comps = 12
    ours = HandModel(side, "mano", plain_mano_dir, flat_hand_mean=flat_hand_mean, use_pca=use_pca,
                     num_pca_comps=num_pca_comps, dtype=torch.float64)
    theirs = _smplx_layer(plain_mano_dir, side, flat_hand_mean, use_pca, num_pca_comps)
    args = _inputs(ours.pose_dim, seed=7)
    with torch.no_grad():
        a = ours(**args)
        b = theirs(**args)
        # the comparison is not vacuous: poses, shapes and options move the mesh by centimetres
        rest = theirs(**{k: torch.zeros_like(v) for k, v in args.items()}).vertices
    assert b.joints.shape == (BATCH, 16, 3) and b.vertices.shape == (BATCH, 778, 3)
    assert torch.equal(ours.faces, torch.as_tensor(theirs.faces.astype(np.int64)))
    assert (b.vertices - rest).abs().amax() > 0.01
    assert (a.vertices - b.vertices).abs().amax().item() < TOLERANCE_M
    assert (a.joints - b.joints).abs().amax().item() < TOLERANCE_M
    keypoints = torch.cat([b.joints, b.vertices[:, SMPLX_TIPS]], dim=1)[:, TO_OPENPOSE]
    assert (a.keypoints - keypoints).abs().amax().item() < TOLERANCE_M


def test_flat_hand_mean_and_pca_change_the_result(plain_mano_dir):
    """The options compared above are live in both layers (same change in each)."""
    args = _inputs(45, seed=3)
    with torch.no_grad():
        flat = HandModel("right", "mano", plain_mano_dir, flat_hand_mean=True, dtype=torch.float64)(**args)
        relaxed = HandModel("right", "mano", plain_mano_dir, flat_hand_mean=False, dtype=torch.float64)(**args)
        s_flat = _smplx_layer(plain_mano_dir, "right", True, False, 45)(**args)
        s_relaxed = _smplx_layer(plain_mano_dir, "right", False, False, 45)(**args)
    assert (flat.vertices - relaxed.vertices).abs().amax() > 0.005
    assert torch.allclose(flat.vertices - relaxed.vertices, s_flat.vertices - s_relaxed.vertices, atol=TOLERANCE_M)


def test_left_file_without_the_fix_differs(plain_mano_dir):
    """smplx as-is on MANO_LEFT.pkl gives another shaped hand: the shapedirs fix matters."""
    args = _inputs(45, seed=5)
    ours = HandModel("left", "mano", plain_mano_dir, flat_hand_mean=True, dtype=torch.float64)
    raw = smplx.MANO(str(plain_mano_dir), is_rhand=False, use_pca=False, flat_hand_mean=True,
                     batch_size=BATCH, dtype=torch.float64)
    with torch.no_grad():
        gap = (ours(**args).vertices - raw(**args).vertices).abs().amax()
    assert gap > 1e-3
