"""Readers of the original release formats, on small fixtures written in each real layout.

Every fixture stores one known hand (MediaPipe order, metres, optical frame) converted
into the dataset's own order, units and frame; the reader must give the hand back.
"""

import json
import pickle

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.readers import (
    CocoWholeBodyHandReader,
    FreiHandReader,
    Ho3dReader,
    InterHandReader,
    OneHand10kReader,
    RhdReader,
)
from hand_mesh_core.data.readers.frames import OPENGL_TO_OPTICAL, transform_mano_parameters
from hand_mesh_core.data.readers.keypoint_orders import (
    INTERHAND_TO_MEDIAPIPE,
    MANO21_TO_MEDIAPIPE,
    RHD_TO_MEDIAPIPE,
)

K = np.array([[300.0, 0, 112], [0, 310.0, 110], [0, 0, 1]])


def _hand(seed=0, depth=0.5):
    """[21, 3] metres, optical frame, MediaPipe order: a 10 cm cloud in front of the camera."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.05, 0.05, size=(21, 3)) + [0.0, 0.0, depth]


def _to_source(mp, mapping):
    """Inverse of reorder: the dataset-order array whose ``[mapping]`` is ``mp``."""
    src = np.empty_like(mp)
    src[mapping] = mp
    return src


def _write_image(path, w, h):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def test_freihand_layout(tmp_path):
    xyz = np.stack([_hand(0), _hand(1)])
    mano = np.arange(2 * 61, dtype=np.float64).reshape(2, 1, 61) / 100.0
    (tmp_path / "training_xyz.json").write_text(json.dumps(xyz.tolist()))
    (tmp_path / "training_K.json").write_text(json.dumps([K.tolist()] * 2))
    (tmp_path / "training_mano.json").write_text(json.dumps(mano.tolist()))
    for i in range(4):  # versions 0 and 1 of N = 2 labels
        _write_image(tmp_path / "training" / "rgb" / f"{i:08d}.jpg", 224, 224)
    _write_image(tmp_path / "training" / "mask" / "00000001.jpg", 224, 224)
    reader = FreiHandReader(tmp_path)
    assert len(reader) == 4 and reader.versions == [0, 1]
    s = reader[3]  # version 1 of label 1
    assert s.image_path.name == "00000003.jpg" and s.all_hands_labelled
    h = s.hands[0]
    np.testing.assert_allclose(h.keypoints_3d, xyz[1], atol=1e-7)
    np.testing.assert_allclose(h.keypoints_2d, project_np(xyz[1], K), atol=1e-3)
    np.testing.assert_allclose(h.pose, mano[1, 0, :48], atol=1e-6)
    np.testing.assert_allclose(h.shape, mano[1, 0, 48:58], atol=1e-6)
    assert h.transl is None and h.handedness == "right"
    assert h.load_mask(s.image_size).all()  # grey 128 > 127
    assert reader[0].hands[0].mask_path is None  # no mask file for label 0
    with pytest.raises(ValueError):
        FreiHandReader(tmp_path, versions=[4])


def test_rhd_layout(tmp_path):
    left, right = _hand(2, 0.6), _hand(3, 0.7)
    uv_l, uv_r = project_np(left, K), project_np(right, K)
    vis_l = np.ones(21)
    vis_l[5] = 0  # MediaPipe index MCP occluded
    uv_vis = np.concatenate([
        np.c_[_to_source(uv_l, RHD_TO_MEDIAPIPE), _to_source(vis_l, RHD_TO_MEDIAPIPE)],
        np.c_[_to_source(uv_r, RHD_TO_MEDIAPIPE), np.zeros(21)],  # right hand fully hidden
    ])
    xyz = np.concatenate([_to_source(left, RHD_TO_MEDIAPIPE), _to_source(right, RHD_TO_MEDIAPIPE)])
    anno = {7: {"uv_vis": uv_vis, "xyz": xyz, "K": K}}
    split = tmp_path / "training"
    split.mkdir()
    with open(split / "anno_training.pickle", "wb") as f:
        pickle.dump(anno, f)
    _write_image(split / "color" / "00007.png", 320, 320)
    labels = np.zeros((320, 320), np.uint8)
    labels[:10] = 5  # left index finger
    labels[10:20] = 20  # right thumb
    split.joinpath("mask").mkdir()
    cv2.imwrite(str(split / "mask" / "00007.png"), labels)
    s = RhdReader(tmp_path)[0]
    assert [h.handedness for h in s.hands] == ["left"] and s.sample_id == "00007"
    h = s.hands[0]
    np.testing.assert_allclose(h.keypoints_3d, left, atol=1e-7)
    np.testing.assert_allclose(h.keypoints_2d, uv_l, atol=1e-4)
    assert h.valid.all() and not h.visibility[5] and h.visibility.sum() == 20
    assert h.load_mask(s.image_size).sum() == 10 * 320  # label 5 only, not the right thumb's 20


def _interhand_fixture(tmp_path, hand_type, joint_valid):
    right, left = _hand(4, 0.8), _hand(5, 0.9)
    R = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    campos = np.array([100.0, -50.0, 20.0])  # mm
    # camera = R (world - campos) / 1000  =>  world = R^T camera_mm + campos
    cam_mm = np.concatenate([_to_source(right, INTERHAND_TO_MEDIAPIPE), _to_source(left, INTERHAND_TO_MEDIAPIPE)]) * 1000
    world = cam_mm @ R + campos
    ann_dir = tmp_path / "annotations" / "val"
    ann_dir.mkdir(parents=True)
    data = {
        "images": [{"id": 9, "file_name": "Capture1/seq/cam400001/image0042.jpg", "width": 334, "height": 512,
                    "capture": 1, "camera": "400001", "frame_idx": 42}],
        "annotations": [{"id": 9, "image_id": 9, "bbox": [0, 0, 10, 10], "joint_valid": [[v] for v in joint_valid],
                         "hand_type": hand_type, "hand_type_valid": 1}],
    }
    camera = {"1": {"campos": {"400001": campos.tolist()}, "camrot": {"400001": R.tolist()},
                    "focal": {"400001": [K[0, 0], K[1, 1]]}, "princpt": {"400001": [K[0, 2], K[1, 2]]}}}
    joints = {"1": {"42": {"world_coord": world.tolist(), "joint_valid": [[1]] * 42, "hand_type": hand_type}}}
    for name, obj in (("data", data), ("camera", camera), ("joint_3d", joints)):
        (ann_dir / f"InterHand2.6M_val_{name}.json").write_text(json.dumps(obj))
    return right, left


def test_interhand_layout(tmp_path):
    right, left = _interhand_fixture(tmp_path, "interacting", [1] * 42)
    s = InterHandReader(tmp_path, "val")[0]
    assert [h.handedness for h in s.hands] == ["right", "left"] and s.all_hands_labelled
    assert s.image_path == tmp_path / "images" / "val" / "Capture1/seq/cam400001/image0042.jpg"
    np.testing.assert_allclose(s.hands[0].keypoints_3d, right, atol=1e-6)
    np.testing.assert_allclose(s.hands[1].keypoints_3d, left, atol=1e-6)
    np.testing.assert_allclose(s.hands[1].keypoints_2d, project_np(left, K), atol=1e-3)


def test_interhand_single_hand_and_invalid_joints(tmp_path):
    valid = [1] * 21 + [0] * 21
    valid[20] = 0  # the right wrist (last of the hand in InterHand order) not annotated
    right, _ = _interhand_fixture(tmp_path, "right", valid)
    s = InterHandReader(tmp_path, "val")[0]
    assert [h.handedness for h in s.hands] == ["right"] and not s.all_hands_labelled
    h = s.hands[0]
    assert not h.valid[0] and h.valid[1:].all()  # MediaPipe wrist is index 0
    np.testing.assert_allclose(h.keypoints_3d[1:], right[1:], atol=1e-6)


def test_coco_wholebody_layout(tmp_path):
    kp = np.c_[np.arange(21) * 2.0, np.arange(21) + 10.0, np.full(21, 2.0)]
    kp[3] = 0  # one keypoint not annotated
    person = {"id": 1, "image_id": 5, "iscrowd": 0,
              "lefthand_valid": True, "lefthand_box": [0, 10, 40, 20], "lefthand_kpts": kp.ravel().tolist(),
              "righthand_valid": False, "righthand_box": [0, 0, 0, 0], "righthand_kpts": [0] * 63}
    nobody = dict(person, id=2, image_id=6, lefthand_valid=False)
    data = {"images": [{"id": 5, "file_name": "a.jpg", "width": 64, "height": 48},
                       {"id": 6, "file_name": "b.jpg", "width": 64, "height": 48}],
            "annotations": [person, nobody]}
    (tmp_path / "wb.json").write_text(json.dumps(data))
    (tmp_path / "img").mkdir()
    reader = CocoWholeBodyHandReader(tmp_path / "wb.json", tmp_path / "img")
    assert len(reader) == 1  # the image without an annotated hand is left out
    h = reader[0].hands[0]
    assert h.handedness == "left" and h.num_valid == 20 and not h.valid[3]
    np.testing.assert_allclose(h.bbox, [0, 10, 40, 30])
    np.testing.assert_allclose(h.keypoints_2d[20], [40, 30])


def test_onehand10k_layout(tmp_path):
    split = tmp_path / "Train"
    (split / "source").mkdir(parents=True)
    kp = np.c_[np.arange(21) * 3.0, np.arange(21) * 4.0]
    kp[0] = -1  # wrist not annotated
    lines = ["0.jpg,64,96,1," + ",".join(str(int(v)) for v in kp.ravel()),
             "1.jpg,64,96,1," + ",".join(["-1"] * 42)]  # nothing annotated: skipped
    (split / "label_joint.txt").write_text("\n".join(lines) + "\n")
    reader = OneHand10kReader(tmp_path)
    assert len(reader) == 1
    s = reader[0]
    assert s.image_size == (64, 96) and s.all_hands_labelled and s.hands[0].handedness is None
    assert not s.hands[0].valid[0] and s.hands[0].valid[1:].all()
    np.testing.assert_allclose(s.hands[0].keypoints_2d[5], [15, 20])
    (split / "label_joint.txt").write_text("0.jpg,64,96,1,3,4\n")
    with pytest.raises(ValueError):
        OneHand10kReader(tmp_path)


def test_mano_frame_change_keeps_the_posed_mesh():
    # A toy posed hand: v = G (v0 - j0) + j0 + t, with a template root j0 the reader never sees.
    rng = np.random.default_rng(6)
    v0 = rng.normal(scale=0.05, size=(30, 3))
    j0 = np.array([0.09, 0.005, 0.006])
    go = np.array([0.3, -1.2, 0.5])
    t = np.array([0.05, -0.1, -0.6])
    G = Rotation.from_rotvec(go).as_matrix()
    posed = (v0 - j0) @ G.T + j0 + t
    wrist = j0 + t  # the root does not move under its own rotation
    pose = np.r_[go, rng.normal(size=45)]
    new_pose, new_t = transform_mano_parameters(pose, t, wrist, OPENGL_TO_OPTICAL)
    G2 = Rotation.from_rotvec(new_pose[:3]).as_matrix()
    np.testing.assert_allclose((v0 - j0) @ G2.T + j0 + new_t, posed @ OPENGL_TO_OPTICAL.T, atol=1e-12)
    np.testing.assert_array_equal(new_pose[3:], pose[3:])
    with pytest.raises(ValueError):
        transform_mano_parameters(pose, t, wrist, np.diag([-1.0, 1, 1]))  # a reflection


def test_ho3d_layout_converts_opengl_to_optical(tmp_path):
    xyz = _hand(7, 0.45)
    gl = _to_source(xyz, MANO21_TO_MEDIAPIPE) @ OPENGL_TO_OPTICAL.T  # the file's OpenGL frame
    pose = np.r_[[0.1, 0.2, 0.3], np.zeros(45)]
    meta = {"camMat": K, "handJoints3D": gl, "handPose": pose, "handBeta": np.arange(10.0),
            "handTrans": np.array([0.01, 0.02, -0.4])}
    for sub in ("rgb", "meta"):
        (tmp_path / "train" / "SEQ1" / sub).mkdir(parents=True)
    with open(tmp_path / "train" / "SEQ1" / "meta" / "0007.pkl", "wb") as f:
        pickle.dump(meta, f)
    with open(tmp_path / "train" / "SEQ1" / "meta" / "0008.pkl", "wb") as f:
        pickle.dump({"camMat": K, "handJoints3D": None}, f)  # an unannotated frame
    _write_image(tmp_path / "train" / "SEQ1" / "rgb" / "0007.png", 640, 480)  # v2: png (v3: jpg)
    (tmp_path / "train.txt").write_text("SEQ1/0007\nSEQ1/0008\n")
    reader = Ho3dReader(tmp_path, "train")
    s = reader[0]
    h = s.hands[0]
    assert s.sample_id == "SEQ1/0007" and s.image_path.name == "0007.png"
    np.testing.assert_allclose(h.keypoints_3d, xyz, atol=1e-7)
    assert (h.keypoints_3d[:, 2] > 0).all()  # in front of the camera in the optical frame
    np.testing.assert_allclose(h.keypoints_2d, project_np(xyz, K), atol=1e-3)
    expected_pose, expected_t = transform_mano_parameters(pose, meta["handTrans"], gl[0], OPENGL_TO_OPTICAL)
    np.testing.assert_allclose(h.pose, expected_pose, atol=1e-6)
    np.testing.assert_allclose(h.transl, expected_t, atol=1e-6)
    np.testing.assert_allclose(h.shape, np.arange(10.0))
    assert reader[1].hands == [] and not reader[1].all_hands_labelled
    assert reader[1].image_path.name == "0008.jpg"
