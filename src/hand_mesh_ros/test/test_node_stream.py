"""hand_mesh_node in stream mode over real DDS: track ids on consecutive frames of the real
video, and the smoothing parameters (on at start, changed and switched off while running,
refused without stream mode)."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter

from hand_mesh_core.media import FrameSource, load_rgb
from hand_mesh_ros.image_conversion import rgb_to_image_msg


def _video_frames(shared_data, start: int, count: int) -> list:
    frames = []
    for frame in FrameSource(shared_data / "video" / "mmaction2_demo.mp4"):
        if frame.index >= start + count:
            break
        if frame.index >= start:
            frames.append(frame.rgb)
    return frames


@pytest.mark.slow
def test_stream_ids_and_smoothing_parameters_while_running(rig_factory, shared_data):
    rig = rig_factory(smoothing=True, smoothing_min_cutoff=2.0, smoothing_beta=10.0)
    node = rig.node
    assert node.predictor.smoother is not None and node.predictor.smoother.settings.min_cutoff == 2.0
    frames = _video_frames(shared_data, 30, 12)  # the arm-wrestler's right hand from frame 30 on
    ids = [{h.track_id for h in rig.send(rgb_to_image_msg(rgb)).hands} for rgb in frames[:10]]
    # the hand seen from the first frame keeps id 1 (another hand that shows up gets its own)
    assert sum(bool(i) for i in ids) >= 6 and all(1 in i and 0 not in i for i in ids if i), ids
    assert rig.diagnostics()["smoothing"] == "min_cutoff 2 Hz, beta 10 Hz per m/s"
    assert node.set_parameters([Parameter("smoothing_beta", value=0.0)])[0].successful
    assert not node.set_parameters([Parameter("smoothing_min_cutoff", value=0.0)])[0].successful  # range
    rig.send(rgb_to_image_msg(frames[10]))
    assert node.predictor.smoother.settings.beta == 0.0
    assert node.set_parameters([Parameter("smoothing", value=False)])[0].successful
    result = rig.send(rgb_to_image_msg(frames[11]))
    assert node.predictor.smoother is None and 1 in {h.track_id for h in result.hands}
    assert rig.diagnostics()["smoothing"] == "off"


def test_smoothing_without_stream_mode_is_refused_with_a_warning(rig_factory, shared_data):
    rig = rig_factory(video=False, smoothing=True)  # warned at start (before /rosout is collected here)
    assert rig.node.predictor.smoother is None and rig.diagnostics()["smoothing"] == "off"
    image = rgb_to_image_msg(load_rgb(shared_data / "images" / "hamer_test3.jpg"))  # one hand
    result = rig.send(image)
    assert result.hands and {h.track_id for h in result.hands} == {0}  # not a stream: untracked
    # switched on again while running: refused with a warning, the node keeps serving
    assert rig.node.set_parameters([Parameter("smoothing", value=False)])[0].successful
    rig.send(image)
    assert rig.node.set_parameters([Parameter("smoothing", value=True)])[0].successful
    assert rig.send(image).hands and rig.node.predictor.smoother is None
    assert rig.warnings("smoothing needs video")
