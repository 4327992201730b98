"""The mmpose COCO-style reader on the shared ``annotated/`` subsets and on a written fixture."""

import json

import numpy as np
import pytest

from hand_mesh_core.camera import project_np
from hand_mesh_core.data.readers.mmpose_coco import MmposeCocoReader, read_annotated_subset

SUBSETS = ("freihand", "onehand10k", "panoptic", "rhd")


def _raw(shared_data, name):
    return json.loads((shared_data / "annotated" / name / f"test_{name}.json").read_text())


@pytest.mark.parametrize("name", SUBSETS)
def test_subset_matches_its_json_and_images(shared_data, name):
    raw = _raw(shared_data, name)
    reader = read_annotated_subset(shared_data / "annotated", name)
    assert len(reader) == len(raw["images"])
    assert sum(len(s.hands) for s in reader) == len(raw["annotations"])
    for sample in reader:
        assert sample.dataset == name
        img = sample.load_image()  # also checks the recorded size against the file
        assert img.shape[:2] == (sample.image_size[1], sample.image_size[0])
        for hand in sample.hands:
            assert hand.num_valid >= 1
            assert (hand.visibility == hand.valid).all()  # mmpose records no occlusion
            x0, y0, x1, y1 = hand.box()
            kp = hand.keypoints_2d[hand.valid]
            # annotated keypoints lie in the annotated box (1 px tolerance for rounding)
            assert (kp[:, 0] >= x0 - 1).all() and (kp[:, 0] <= x1 + 1).all()
            assert (kp[:, 1] >= y0 - 1).all() and (kp[:, 1] <= y1 + 1).all()
            assert (hand.keypoints_2d[~hand.valid] == 0).all()


def test_handedness_per_subset(shared_data):
    root = shared_data / "annotated"
    assert {h.handedness for s in read_annotated_subset(root, "freihand") for h in s.hands} == {"right"}
    assert {h.handedness for s in read_annotated_subset(root, "onehand10k") for h in s.hands} == {None}
    for s in read_annotated_subset(root, "panoptic"):
        side = {"l": "left", "r": "right"}[s.image_path.stem[-1]]
        assert [h.handedness for h in s.hands] == [side]
    raw = {a["image_id"]: a["hand_type"] for a in _raw(shared_data, "rhd")["annotations"]}
    for s in read_annotated_subset(root, "rhd"):
        assert [h.handedness for h in s.hands] == [raw[int(s.sample_id)]]


def test_rhd_3d_is_metric_and_reprojects(shared_data):
    reader = read_annotated_subset(shared_data / "annotated", "rhd")
    for sample in reader:
        assert sample.K is not None and sample.K[0, 0] > 200
        for hand in sample.hands:
            xyz = hand.keypoints_3d.astype(np.float64)
            assert 0.2 < xyz[0, 2] < 2.0  # metres in front of the camera
            err = np.linalg.norm(project_np(xyz, sample.K) - hand.keypoints_2d, axis=1)
            # the JSON stores 4 significant digits: mean error ~0.04 px, no point beyond 0.1
            assert err.mean() < 0.05 and err.max() < 0.1
            # MediaPipe order (base -> tip): in every finger the first bone (proximal
            # phalanx / thumb metacarpal) is longer than the last (distal phalanx)
            bone = np.linalg.norm(np.diff(xyz, axis=0), axis=1)  # bone[i]: keypoint i -> i+1
            for base, tip in ((1, 4), (5, 8), (9, 12), (13, 16), (17, 20)):
                assert bone[base] > bone[tip - 1]


def test_rhd_order_fixture_maps_tips_first_to_mediapipe(tmp_path):
    # RHD order: 0 wrist, then per finger tip -> base. Put the RHD index in x.
    kp = [[float(i), 0.0, 1.0] for i in range(21)]
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "bbox": [0, 0, 21, 1], "keypoints": kp, "hand_type": "left"}],
    }
    (tmp_path / "a.json").write_text(json.dumps(data))
    s = MmposeCocoReader(tmp_path / "a.json", keypoint_order="rhd", handedness="hand_type")[0]
    # MediaPipe thumb CMC, MCP, IP, tip = RHD 4, 3, 2, 1; index MCP..tip = RHD 8..5
    np.testing.assert_array_equal(s.hands[0].keypoints_2d[:9, 0], [0, 4, 3, 2, 1, 8, 7, 6, 5])
    assert s.hands[0].handedness == "left" and s.K is None
    with pytest.raises(ValueError):
        MmposeCocoReader(tmp_path / "a.json", keypoint_order="unknown")
    with pytest.raises(FileNotFoundError):
        MmposeCocoReader(tmp_path / "missing.json")
    with pytest.raises(IndexError):
        MmposeCocoReader(tmp_path / "a.json")[1]
