"""The labelled sample type: validation, derived boxes, masks, image loading."""

import cv2
import numpy as np
import pytest

from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image


def _label(**kw):
    kp = np.stack([np.linspace(10, 50, 21), np.linspace(20, 100, 21)], axis=1)
    args = dict(keypoints_2d=kp, valid=np.ones(21, bool), visibility=np.ones(21, bool))
    args.update(kw)
    return HandLabel(**args)


def test_hand_label_validates_its_fields():
    with pytest.raises(ValueError):
        _label(keypoints_2d=np.zeros((20, 2)))
    with pytest.raises(ValueError):
        _label(handedness="Left")
    with pytest.raises(ValueError):
        _label(valid=np.zeros(21, bool))  # visible but not valid
    with pytest.raises(ValueError):
        _label(bbox=np.array([10.0, 0, 5, 5]))
    with pytest.raises(ValueError):
        _label(keypoints_3d=np.full((21, 3), np.inf))
    assert _label(pose=np.zeros(48)).pose.dtype == np.float32


def test_box_falls_back_to_the_valid_keypoints():
    h = _label()
    np.testing.assert_allclose(h.box(), [10, 20, 50, 100])
    assert h.box_size() == pytest.approx(80.0)  # the larger side
    valid = np.ones(21, bool)
    valid[-1] = False  # drop the last point (50, 100): box ends at the 20th point
    h = _label(valid=valid, visibility=valid)
    np.testing.assert_allclose(h.box(), [10, 20, 48, 96])
    h = _label(bbox=np.array([0.0, 0, 30, 10]))
    assert h.box_size() == pytest.approx(30.0)
    with pytest.raises(ValueError):
        _label(valid=np.zeros(21, bool), visibility=np.zeros(21, bool)).box()


def test_masks_from_label_maps_and_binary_files(tmp_path):
    labels = np.zeros((4, 6), np.uint8)
    labels[0, :2] = 3
    labels[1, :2] = 5
    labels[3, 5] = 200
    cv2.imwrite(str(tmp_path / "labels.png"), labels)
    m = _label(mask_path=tmp_path / "labels.png", mask_values=(3, 5)).load_mask(image_size=(6, 4))
    assert m.sum() == 4 and m[0, 0] and m[1, 1] and not m[3, 5]
    m = _label(mask_path=tmp_path / "labels.png").load_mask()  # binary: > 127
    assert m.sum() == 1 and m[3, 5]
    with pytest.raises(ValueError):
        _label(mask_path=tmp_path / "labels.png").load_mask(image_size=(4, 6))
    assert _label().load_mask() is None


def test_sample_checks_image_and_size(tmp_path):
    with pytest.raises(ValueError):
        Sample(hands=[])
    img = np.zeros((5, 7, 3), np.uint8)
    s = Sample(hands=[_label()], image=img)
    assert s.image_size == (7, 5) and s.load_image() is img
    with pytest.raises(ValueError):
        Sample(hands=[], image=img, image_size=(5, 7))
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(ValueError):
        Sample(hands=[], image_path=tmp_path / "a.png", image_size=(8, 5)).load_image()
    with pytest.raises(ValueError):
        Sample(hands=[], image=img, K=np.eye(3) * 0)


def test_visible_in_image_uses_corner_origin_pixels():
    pts = np.array([[0.0, 0.0], [6.99, 4.99], [7.0, 1.0], [-0.01, 1.0]])
    np.testing.assert_array_equal(visible_in_image(pts, (7, 5)), [True, True, False, False])
