"""MANO backend on synthetic pickles written in MANO's file format (no real MANO file here).

The files (:mod:`synthetic_mano`, chumpy flavour) are 778-vertex pieces of the open model
laid out as MANO's pickle, with chumpy objects and an old-scipy sparse regressor. The
vertices include the open model's joint-regressor rings and fingertips (moved to smplx's
tip ids), so its joints and keypoints must equal the open model's exactly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hand_mesh_core.hand_model import HandModel, mirror_points, mirror_pose
from hand_mesh_core.hand_model.lbs import axis_angle_to_matrix, pose_feature
from hand_mesh_core.hand_model.mano_loader import (
    MANO_URL,
    SMPLX_TIP_IDS,
    load_mano,
    read_mano_pickle,
    resolve_mano_path,
)
from hand_mesh_core.hand_model.open_model import load_open_model
from synthetic_mano import write_mano_files


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mano") / "models" / "mano"
    folder.mkdir(parents=True)
    layouts = write_mano_files(folder, chumpy=True)
    return folder.parent.parent, layouts


def test_pickle_records_chumpy_and_old_scipy_class_paths(mano_dir):
    root, _ = mano_dir
    raw = (root / "models/mano/MANO_RIGHT.pkl").read_bytes()
    assert b"chumpy.ch" in raw and b"chumpy.reordering" in raw and b"scipy.sparse.csc" in raw
    d = read_mano_pickle(root / "models/mano/MANO_RIGHT.pkl")
    assert isinstance(d["shapedirs"], np.ndarray) and d["shapedirs"].shape == (778, 3, 10)
    assert d["v_template"].shape == (778, 3) and d["J_regressor"].shape == (16, 778)


def test_mano_backend_matches_the_open_model_it_was_made_from(mano_dir):
    root, layouts = mano_dir
    g = torch.Generator().manual_seed(1)
    p = {"betas": torch.randn(3, 10, generator=g, dtype=torch.float64),
         "global_orient": torch.randn(3, 3, generator=g, dtype=torch.float64),
         "hand_pose": 0.3 * torch.randn(3, 45, generator=g, dtype=torch.float64),
         "transl": 0.1 * torch.randn(3, 3, generator=g, dtype=torch.float64)}
    for side in ("right", "left"):
        mano = HandModel(side, "mano", root).double()
        mano.posedirs.zero_()  # without pose correctives the two models are the same LBS
        mano.tip_posedirs.zero_()
        ref = HandModel(side).double()
        a, b = mano(**p), ref(**p)
        assert mano.num_vertices == 778 and mano.name == "mano"
        assert torch.allclose(a.joints, b.joints, atol=1e-6)  # float32-stored arrays
        assert torch.allclose(a.keypoints, b.keypoints, atol=1e-6)
        assert torch.allclose(a.vertices, b.vertices[:, layouts[side]], atol=1e-6)


def test_left_shapedirs_are_repaired_and_left_mirrors_right(mano_dir):
    root, _ = mano_dir
    right = HandModel("right", "mano", root).double()
    left = HandModel("left", "mano", root).double()
    assert torch.allclose(left.shapedirs, right.shapedirs * torch.tensor([-1.0, 1.0, 1.0])[:, None], atol=1e-7)
    raw = HandModel.from_data(load_mano(root / "models/mano/MANO_LEFT.pkl", "left", fix_left_shapedirs=False))
    assert torch.allclose(raw.shapedirs[:, 0].double(), -left.shapedirs[:, 0], atol=1e-7)
    g = torch.Generator().manual_seed(2)
    betas = torch.randn(2, 10, dtype=torch.float64, generator=g)
    pose = 0.3 * torch.randn(2, 45, dtype=torch.float64, generator=g)
    for m in (left, right):
        m.posedirs.zero_()
        m.tip_posedirs.zero_()
    r = right(betas=betas, hand_pose=pose)
    lft = left(betas=betas, hand_pose=mirror_pose(pose))
    assert (lft.vertices - mirror_points(r.vertices)).abs().max() < 1e-6


def test_pose_correctives_flat_hand_mean_and_pca(mano_dir):
    root, _ = mano_dir
    raw = read_mano_pickle(root / "models/mano/MANO_RIGHT.pkl")
    m = HandModel("right", "mano", root, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    pose = 0.4 * torch.randn(1, 45, dtype=torch.float64, generator=g)
    out = m(hand_pose=pose)
    m0 = HandModel("right", "mano", root).double()
    m0.posedirs.zero_()
    m0.tip_posedirs.zero_()
    # the corrective offsets, skinned, are the difference (rest offsets = posedirs . feature)
    rot = axis_angle_to_matrix(torch.cat([torch.zeros(1, 3, dtype=torch.float64), pose], 1).reshape(1, 16, 3))
    offsets = (pose_feature(rot) @ torch.as_tensor(raw["posedirs"].reshape(-1, 135).T)).reshape(1, 778, 3)
    assert offsets.abs().max() > 1e-3
    assert not torch.allclose(out.vertices, m0(hand_pose=pose).vertices, atol=1e-4)
    # joints do not depend on pose correctives (MANO regresses them from the shaped mesh)
    assert torch.allclose(out.joints, m0(hand_pose=pose).joints)
    # flat_hand_mean=False adds hands_mean
    relaxed = HandModel("right", "mano", root, flat_hand_mean=False).double()
    assert torch.allclose(relaxed.mean_pose, torch.as_tensor(raw["hands_mean"]))
    assert torch.allclose(relaxed().vertices, m(hand_pose=torch.as_tensor(raw["hands_mean"])[None]).vertices)
    # PCA: hand_pose holds coefficients of hands_components' first rows
    pca = HandModel("right", "mano", root, use_pca=True, num_pca_comps=12, dtype=torch.float64)
    code = torch.randn(2, 12, dtype=torch.float64, generator=g)
    full = code @ torch.as_tensor(raw["hands_components"][:12])
    assert torch.allclose(pca(hand_pose=code).vertices, m(hand_pose=full).vertices, atol=1e-10)
    with pytest.raises(ValueError, match="hand_pose must have shape"):
        pca(hand_pose=torch.zeros(1, 45, dtype=torch.float64))
    with pytest.raises(ValueError, match="num_pca_comps"):
        HandModel("right", "mano", root, use_pca=True, num_pca_comps=46)


def test_paths_env_variable_and_side_check(mano_dir, monkeypatch, tmp_path):
    root, _ = mano_dir
    file = root / "models/mano/MANO_RIGHT.pkl"
    assert resolve_mano_path(root, "right") == file  # models/mano layout of smplx
    assert resolve_mano_path(file, "right") == file
    monkeypatch.setenv("HAND_MESH_MANO_DIR", str(root / "models"))
    assert HandModel("left", "mano").side == "left"  # found through mano/ below the env folder
    with pytest.raises(ValueError, match="holds a right hand"):
        load_mano(file, "left")


def test_missing_mano_file_says_where_mano_comes_from(tmp_path, monkeypatch):
    monkeypatch.delenv("HAND_MESH_MANO_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as err:
        HandModel("right", "mano", tmp_path)
    msg = str(err.value)
    assert MANO_URL in msg and str(tmp_path / "MANO_RIGHT.pkl") in msg
    with pytest.raises(FileNotFoundError, match="HAND_MESH_MANO_DIR unset"):
        HandModel("left", "mano")
    with pytest.raises(FileNotFoundError, match="mano.is.tue.mpg.de"):
        HandModel("left", "mano", tmp_path / "MANO_LEFT.pkl")


def test_a_pickle_with_other_classes_is_refused(tmp_path):
    path = tmp_path / "MANO_RIGHT.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3)), "hook": print}))
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        read_mano_pickle(path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="not a MANO model file"):
        load_mano(path, "right")
