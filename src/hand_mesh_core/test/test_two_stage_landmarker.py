"""MediaPipe stage of the two-stage pipeline: model bundle, handedness, IMAGE and VIDEO mode."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from hand_mesh_core.media import FrameSource, load_rgb
from hand_mesh_core.two_stage.landmarker import HandLandmarker, hand_landmarker_bundle


@pytest.fixture(scope="module")
def image_landmarker():
    lm = HandLandmarker(max_hands=4, min_detection_confidence=0.3, min_presence_confidence=0.3)
    yield lm
    lm.close()


def test_bundle_is_a_stored_zip_of_the_two_wheel_models():
    with zipfile.ZipFile(io.BytesIO(hand_landmarker_bundle())) as bundle:
        infos = {i.filename: i for i in bundle.infolist()}
        assert set(infos) == {"hand_detector.tflite", "hand_landmarks_detector.tflite"}
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos.values())
        # TFLite flatbuffers carry the "TFL3" identifier at byte 4
        assert all(bundle.read(name)[4:8] == b"TFL3" for name in infos)


def test_freihand_hands_are_right_hands(shared_data, image_landmarker):
    found = 0
    for path in sorted((shared_data / "annotated" / "freihand").glob("*.jpg")):
        hands = image_landmarker.detect(load_rgb(path))
        for hand in hands:
            assert hand.handedness == "right", path.name
            assert 0.5 <= hand.handedness_score <= 1.0
        found += len(hands) > 0
    assert found >= 6  # MediaPipe finds 7 of the 8 at threshold 0.3 (data README)


def test_landmarks_are_pixels_and_world_is_metric(shared_data, image_landmarker):
    image = load_rgb(shared_data / "images" / "hamer_test1.jpg")
    hands = image_landmarker.detect(image)
    assert len(hands) >= 2
    height, width = image.shape[:2]
    for hand in hands:
        assert hand.keypoints_2d.shape == (21, 2) and hand.world.shape == (21, 3)
        assert (hand.keypoints_2d[:, 0] > -50).all() and (hand.keypoints_2d[:, 0] < width + 50).all()
        assert (hand.keypoints_2d[:, 1] > -50).all() and (hand.keypoints_2d[:, 1] < height + 50).all()
        wrist_to_middle_mcp = np.linalg.norm(hand.world[9] - hand.world[0])
        assert 0.05 < wrist_to_middle_mcp < 0.14  # metres: an adult hand's palm length


def test_no_hand_gives_empty_list(image_landmarker):
    assert image_landmarker.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    assert image_landmarker.detect(np.zeros((8, 8, 3), np.uint8)) == []
    with pytest.raises(ValueError):
        image_landmarker.detect(np.zeros((8, 8), np.uint8))


def test_video_mode_tracks_through_a_clip_and_tolerates_repeated_timestamps(shared_data):
    lm = HandLandmarker(max_hands=2, video=True)
    counts = []
    for frame in FrameSource(shared_data / "video" / "mmaction2_demo.mp4"):
        if frame.index >= 15:
            break
        counts.append(len(lm.detect(frame.rgb, timestamp=0.0 if frame.index < 2 else frame.time)))
    assert max(counts) >= 1
    with pytest.raises(ValueError, match="timestamp"):
        lm.detect(np.zeros((64, 64, 3), np.uint8))
    lm.reset()
    assert lm.detect(np.zeros((64, 64, 3), np.uint8), timestamp=0.0) == []
    lm.close()
