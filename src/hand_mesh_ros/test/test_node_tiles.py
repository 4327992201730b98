"""hand_mesh_node with tiles on, over real DDS: a small real hand in a 1920x1080 real photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hand_mesh_core.bench.hand_scale import paste_sample
from hand_mesh_core.data.readers.mmpose_coco import read_validation_subset
from hand_mesh_core.media import load_rgb
from hand_mesh_ros.image_conversion import rgb_to_image_msg

pytestmark = pytest.mark.slow

BACKGROUND = "pool/4d-humans/example_data__images__skates.png"


def test_tiles_parameter_finds_a_small_hand_in_a_1080p_frame(rig_factory, shared_data):
    pytest.importorskip("mediapipe", reason="the two_stage backend needs mediapipe")
    if not (shared_data / BACKGROUND).is_file():
        pytest.skip(f"{BACKGROUND} not found")
    photo = cv2.resize(load_rgb(shared_data / BACKGROUND), (1920, 1080), interpolation=cv2.INTER_AREA)
    sample = read_validation_subset(shared_data / "validation", "ge_realworld")[0]
    pasted = paste_sample(sample, (1920, 1080), 0.5, np.random.default_rng(0), background=photo)
    truth, size = pasted.hands[0].keypoints_2d, pasted.hands[0].box_size()

    def found(msg) -> bool:
        return any(np.linalg.norm(np.asarray(h.keypoints_2d).reshape(21, 2) - truth, axis=1).mean() < 0.2 * size
                   for h in msg.hands)

    for tiles, expected in (("off", False), ("auto", True)):
        rig = rig_factory(video=False, tiles=tiles)
        msg = rig.send(rgb_to_image_msg(pasted.load_image(), "rgb8"), K=pasted.K)
        assert (msg.image_width, msg.image_height) == (1920, 1080)
        assert found(msg) is expected, (tiles, len(msg.hands))
        assert rig.diagnostics()["tiles"] == tiles
