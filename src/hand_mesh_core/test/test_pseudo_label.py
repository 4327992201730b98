"""Pseudo-labels of the reference pipeline on real images, videos and MCAP bags, and their reader."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from hand_mesh_core.camera import intrinsics_from_fov
from hand_mesh_core.data.bag_images import bag_files, decode_image_message, is_bag, read_bag_images
from hand_mesh_core.data.pseudo_label import (
    INDEX_FILE,
    PseudoLabelSettings,
    hand_confidence,
    read_index,
    write_pseudo_labels,
)
from hand_mesh_core.data.readers import PseudoLabelReader, read_annotated_subset

TIME_DEF = "int32 sec\nuint32 nanosec\n"
HEADER_DEF = "builtin_interfaces/Time stamp\nstring frame_id\n"
SEP = "=" * 80 + "\n"
IMAGE_DEF = ("std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n"
             "uint32 step\nuint8[] data\n" + SEP + "MSG: std_msgs/Header\n" + HEADER_DEF + SEP
             + "MSG: builtin_interfaces/Time\n" + TIME_DEF)
COMPRESSED_DEF = ("std_msgs/Header header\nstring format\nuint8[] data\n" + SEP + "MSG: std_msgs/Header\n" + HEADER_DEF
                  + SEP + "MSG: builtin_interfaces/Time\n" + TIME_DEF)
CAMERA_INFO_DEF = ("std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\nfloat64[] d\n"
                   "float64[9] k\nfloat64[9] r\nfloat64[12] p\nuint32 binning_x\nuint32 binning_y\n"
                   "sensor_msgs/RegionOfInterest roi\n" + SEP + "MSG: sensor_msgs/RegionOfInterest\n"
                   "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n" + SEP
                   + "MSG: std_msgs/Header\n" + HEADER_DEF + SEP + "MSG: builtin_interfaces/Time\n" + TIME_DEF)


@pytest.fixture(scope="module")
def onehand(shared_data):
    """The annotated OneHand10K subset: 4 real web photos, one labelled hand each."""
    return read_annotated_subset(shared_data / "annotated", "onehand10k")


def _header(t: float, frame: str = "cam") -> dict:
    return {"stamp": {"sec": int(t), "nanosec": int((t % 1) * 1e9)}, "frame_id": frame}


def _write_bag(path: Path, rgb: np.ndarray, K: np.ndarray) -> None:
    """MCAP with /cam/image_raw (rgb8, 4 frames) + /cam/camera_info and /cam2/image/compressed (JPEG, 2 frames)."""
    from mcap_ros2.writer import Writer

    h, w = rgb.shape[:2]
    with open(path, "wb") as f:
        writer = Writer(f)
        image = writer.register_msgdef("sensor_msgs/msg/Image", IMAGE_DEF)
        info = writer.register_msgdef("sensor_msgs/msg/CameraInfo", CAMERA_INFO_DEF)
        compressed = writer.register_msgdef("sensor_msgs/msg/CompressedImage", COMPRESSED_DEF)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        padded = np.zeros((h, w * 3 + 8), np.uint8)  # rows padded: step > 3 * width
        padded[:, : w * 3] = rgb.reshape(h, w * 3)
        for i in range(4):
            t = 10.0 + 0.1 * i
            ns = int(t * 1e9)
            writer.write_message("/cam/camera_info", info, {
                "header": _header(t), "height": h, "width": w, "distortion_model": "plumb_bob", "d": [0.0] * 5,
                "k": K.reshape(9).tolist(), "r": np.eye(3).reshape(9).tolist(),
                "p": np.concatenate([K, np.zeros((3, 1))], axis=1).reshape(12).tolist(), "binning_x": 0,
                "binning_y": 0, "roi": {"x_offset": 0, "y_offset": 0, "height": 0, "width": 0, "do_rectify": False},
            }, log_time=ns, publish_time=ns)
            writer.write_message("/cam/image_raw", image, {
                "header": _header(t), "height": h, "width": w, "encoding": "rgb8", "is_bigendian": 0,
                "step": w * 3 + 8, "data": padded.tobytes()}, log_time=ns + 1, publish_time=ns + 1)
            if i < 2:
                writer.write_message("/cam2/image/compressed", compressed, {
                    "header": _header(t, "cam2"), "format": "rgb8; jpeg compressed bgr8", "data": jpeg.tobytes()},
                    log_time=ns + 2, publish_time=ns + 2)
        writer.finish()


def test_hand_confidence_formula():
    assert hand_confidence(1.0, 0.0, 100.0) == 1.0
    assert math.isclose(hand_confidence(0.9, 5.0, 100.0, reprojection_scale=0.05), 0.9 / math.e)
    assert hand_confidence(0.95, 2.0, 50.0) > hand_confidence(0.95, 4.0, 50.0) > 0.0
    with pytest.raises(ValueError):
        hand_confidence(0.9, 1.0, 0.0)
    with pytest.raises(ValueError):
        PseudoLabelSettings(frame_stride=0).validate()


def test_real_images_are_labelled_like_their_annotations(onehand, tmp_path):
    """The teacher's landmarks on the OneHand10K photos agree with the human annotation."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for sample in onehand:
        shutil.copy(sample.image_path, inputs / sample.image_path.name)
    out = tmp_path / "pseudo"
    summary = write_pseudo_labels([inputs], out, PseudoLabelSettings(min_confidence=0.3))
    assert summary.frames == 4 and summary.hands >= 3
    info = json.loads((out / "info.json").read_text())
    assert info["format"] == "hand_mesh.pseudo_labels/1" and info["finished"] and info["counts"]["hands"] == summary.hands
    reader = PseudoLabelReader(out, keep_partial=True)
    truth = {s.image_path.name: s for s in onehand}
    matched = 0
    for sample in reader:
        gt = truth[Path(sample.sample_id).name]
        # still images are copied byte for byte
        assert sample.image_path.read_bytes() == gt.image_path.read_bytes()
        w, h = sample.image_size
        np.testing.assert_allclose(sample.K, intrinsics_from_fov(w, h), atol=1e-3)
        label = gt.hands[0]
        errors = [np.linalg.norm(hand.keypoints_2d[label.valid] - label.keypoints_2d[label.valid], axis=1).mean()
                  / label.box_size() for hand in sample.hands]
        assert min(errors) < 0.2, (sample.sample_id, errors)
        matched += 1
        for hand in sample.hands:
            assert hand.keypoints_3d is not None and hand.pose.shape == (48,) and hand.transl[2] > 0
    assert matched >= 3
    # the fitted keypoints are the projection of the fitted 3D through K
    fit = PseudoLabelReader(out, keypoints="fit", keep_partial=True)
    from hand_mesh_core.camera import project_np

    for sample in fit:
        for hand in sample.hands:
            np.testing.assert_allclose(project_np(hand.keypoints_3d.astype(np.float64), sample.K), hand.keypoints_2d,
                                       atol=0.05)
    # a confidence threshold above every hand rejects them all: no sample, boxes recorded
    strict = tmp_path / "strict"
    s2 = write_pseudo_labels([inputs], strict, PseudoLabelSettings(min_confidence=1.0))
    assert s2.hands == 0 and s2.rejected == summary.hands + s2.rejected - summary.hands >= 3
    assert len(PseudoLabelReader(strict)) == 0 and not any((strict / "images").iterdir())
    assert all(r["rejected"][0]["reason"] == "confidence" for r in read_index(strict) if r["rejected"])


def test_video_frames_with_stride_and_resume(onehand, tmp_path):
    rgb = onehand[0].load_image()
    h, w = rgb.shape[:2]
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h))
    assert writer.isOpened()
    for i in range(6):
        shifted = np.roll(rgb, 2 * i, axis=1)
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "pseudo"
    settings = PseudoLabelSettings(min_confidence=0.3, frame_stride=2)
    first = write_pseudo_labels([video], out, settings)
    records = read_index(out)
    assert [r["key"] for r in records] == ["clip.mp4#0", "clip.mp4#2", "clip.mp4#4"]
    assert [r["frame"] for r in records] == [0, 2, 4] and first.hands >= 2
    assert all(r["image"].endswith(".jpg") for r in records if r["hands"])
    # resume: nothing is labelled twice
    again = write_pseudo_labels([video], out, settings)
    assert again.skipped_known == 3 and again.frames == 3 and len(read_index(out)) == 3
    with pytest.raises(FileExistsError):
        write_pseudo_labels([video], out, settings, resume=False)


def test_mcap_bag_topics_with_camera_info(onehand, tmp_path):
    rgb = onehand[1].load_image()
    h, w = rgb.shape[:2]
    K = np.array([[1.3 * w, 0.0, 0.48 * w], [0.0, 1.3 * w, 0.52 * h], [0.0, 0.0, 1.0]])
    bag = tmp_path / "rec.mcap"
    _write_bag(bag, rgb, K)
    assert is_bag(bag) and bag_files(bag) == [bag]
    frames = list(read_bag_images(bag, topics=["/cam/image_raw"], stride=2))
    assert [f.index for f in frames] == [0, 2]
    assert np.array_equal(frames[0].rgb, rgb)  # rgb8 with padded rows decoded exactly
    np.testing.assert_allclose(frames[0].K, K)
    compressed = list(read_bag_images(bag, topics=["/cam2/image/compressed"]))
    assert len(compressed) == 2 and compressed[0].K is None
    assert np.abs(compressed[0].rgb.astype(int) - rgb.astype(int)).mean() < 4  # JPEG, RGB order kept
    with pytest.raises(ValueError, match="not in"):
        list(read_bag_images(bag, topics=["/nope"]))

    # a rosbag2 folder holding the file is read the same way
    folder = tmp_path / "rosbag"
    folder.mkdir()
    shutil.copy(bag, folder / "rosbag_0.mcap")
    (folder / "metadata.yaml").write_text("rosbag2_bagfile_information:\n  version: 5\n  storage_identifier: mcap\n")
    out = tmp_path / "pseudo"
    summary = write_pseudo_labels([folder], out, PseudoLabelSettings(min_confidence=0.3, frame_stride=2))
    records = read_index(out)
    assert summary.frames == 3  # 2 of 4 raw frames, 1 of 2 compressed
    by_topic = {r["key"].split("#")[0]: r for r in records}
    raw = by_topic["rosbag/cam/image_raw"]
    assert raw["K_source"] == "camera_info" and np.allclose(raw["K"], K, atol=1e-3)
    assert by_topic["rosbag/cam2/image/compressed"]["K_source"] == "default_fov"
    assert all(r["hands"] for r in records)
    sample = PseudoLabelReader(out, keep_partial=True)[0]
    assert sample.load_image().shape == rgb.shape

    sqlite = tmp_path / "sqlite_bag"
    sqlite.mkdir()
    (sqlite / "metadata.yaml").write_text("x: 1\n")
    (sqlite / "b_0.db3").write_bytes(b"")
    with pytest.raises(ValueError, match="ros2 bag convert"):
        bag_files(sqlite)


def test_image_message_encodings():
    rgb = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    msg = SimpleNamespace(height=3, width=5, encoding="bgr8", is_bigendian=0, step=16,
                          data=np.pad(rgb[..., ::-1].reshape(3, 15), ((0, 0), (0, 1))).tobytes())
    assert np.array_equal(decode_image_message(msg, "sensor_msgs/msg/Image"), rgb)
    mono16 = (np.arange(15, dtype=np.uint16).reshape(3, 5) * 4000)
    msg = SimpleNamespace(height=3, width=5, encoding="mono16", is_bigendian=1, step=10, data=mono16.astype(">u2").tobytes())
    out = decode_image_message(msg, "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(out[..., 0], (mono16 // 257).astype(np.uint8))  # media.to_rgb8's scaling
    with pytest.raises(ValueError, match="unsupported"):
        decode_image_message(SimpleNamespace(height=1, width=1, encoding="yuv422", is_bigendian=0, step=2, data=b"ab"),
                             "sensor_msgs/msg/Image")
    with pytest.raises(ValueError, match="bytes"):
        decode_image_message(SimpleNamespace(height=2, width=2, encoding="rgb8", is_bigendian=0, step=6, data=b"abc"),
                             "sensor_msgs/msg/Image")
    with pytest.raises(ValueError, match="CompressedImage"):
        decode_image_message(SimpleNamespace(format="jpeg", data=b"not a jpeg"), "sensor_msgs/msg/CompressedImage")


def test_cli_writes_a_dataset(onehand, tmp_path):
    from typer.testing import CliRunner

    from hand_mesh_core.cli import app

    image = onehand[2].image_path
    result = CliRunner().invoke(app, ["pseudo-label", str(image), "--out", str(tmp_path / "ds"), "--min-confidence", "0.3"])
    assert result.exit_code == 0, result.output
    assert "hands kept" in result.output and (tmp_path / "ds" / INDEX_FILE).is_file()
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    result = CliRunner().invoke(app, ["pseudo-label", str(bad), "--out", str(tmp_path / "ds2")])
    assert result.exit_code == 2 and "unknown input type" in result.output
