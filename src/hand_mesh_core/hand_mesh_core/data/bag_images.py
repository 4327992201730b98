"""Camera images from ROS 2 recordings: MCAP files and rosbag2 folders with MCAP storage.

Read with the ``mcap`` / ``mcap-ros2-support`` libraries (no ROS installation needed):
every message of type ``sensor_msgs/msg/Image`` or ``sensor_msgs/msg/CompressedImage`` is
an image; ``sensor_msgs/msg/CameraInfo`` messages give the intrinsics of the image topic
in the same namespace (``/cam/image_raw`` <- ``/cam/camera_info``; the latest one received
before the image is used).

Supported ``Image`` encodings (REP-104 / ``sensor_msgs/image_encodings.hpp`` names):
``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``mono8``, ``rgb16``, ``bgr16``, ``mono16``
(16-bit scaled by 1/257, either endianness), with any row ``step`` >= the packed width.
``CompressedImage``: whatever OpenCV decodes (JPEG, PNG; ``format`` names the original
pixel order, but the compressed stream carries its own, OpenCV decodes it as BGR).
Another encoding raises ``ValueError`` naming it.

A rosbag2 folder (``metadata.yaml`` + ``*.mcap``) is read file by file in name order. The
sqlite3 storage (``*.db3``) is not read: ``ValueError`` suggests ``ros2 bag convert`` to MCAP.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.camera import validate_intrinsics
from hand_mesh_core.media import to_rgb8

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
BAG_SUFFIXES = (".mcap",)

#: ``Image.encoding`` -> (channels, numpy dtype, is BGR order).
_ENCODINGS = {
    "rgb8": (3, np.uint8, False),
    "bgr8": (3, np.uint8, True),
    "rgba8": (4, np.uint8, False),
    "bgra8": (4, np.uint8, True),
    "mono8": (1, np.uint8, False),
    "8uc1": (1, np.uint8, False),
    "8uc3": (3, np.uint8, True),
    "rgb16": (3, np.uint16, False),
    "bgr16": (3, np.uint16, True),
    "mono16": (1, np.uint16, False),
    "16uc1": (1, np.uint16, False),
}


@dataclasses.dataclass(frozen=True)
class BagImage:
    """One image message.

    Attributes:
        topic: the image topic.
        index: 0-based number of the message within its topic.
        time: header stamp in seconds (the log time where the stamp is 0).
        rgb: ``HxWx3 uint8`` RGB.
        K: float64 ``[3, 3]`` from the topic's ``camera_info``, or None when none was seen.
    """

    topic: str
    index: int
    time: float
    rgb: np.ndarray
    K: np.ndarray | None


def is_bag(path: str | Path) -> bool:
    """True for an ``.mcap`` file or a rosbag2 folder (``metadata.yaml`` + ``.mcap`` files)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in BAG_SUFFIXES
    return path.is_dir() and (path / "metadata.yaml").is_file()


def bag_files(path: str | Path) -> list[Path]:
    """The MCAP files of a bag (the file itself, or a rosbag2 folder's ``*.mcap`` sorted).

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` for a folder that is
    not a rosbag2 bag or holds only sqlite3 (``.db3``) files.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"bag not found: {path}")
    if path.is_file():
        if path.suffix.lower() not in BAG_SUFFIXES:
            raise ValueError(f"not an MCAP file: {path}")
        return [path]
    if not (path / "metadata.yaml").is_file():
        raise ValueError(f"{path} is not a rosbag2 folder (no metadata.yaml)")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in BAG_SUFFIXES)
    if not files:
        if any(p.suffix == ".db3" for p in path.iterdir()):
            raise ValueError(f"{path} uses the sqlite3 storage; convert it with `ros2 bag convert` to MCAP")
        raise ValueError(f"no .mcap files in rosbag2 folder {path}")
    return files


def decode_image_message(msg, schema_name: str) -> np.ndarray:
    """``HxWx3 uint8`` RGB from a decoded ``Image`` or ``CompressedImage`` message.

    Raises ``ValueError`` for an unsupported encoding, a truncated buffer or an undecodable
    compressed image.
    """
    if schema_name.endswith("CompressedImage"):
        buf = np.frombuffer(bytes(msg.data), np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
        if img is None:
            raise ValueError(f"cannot decode CompressedImage (format {msg.format!r})")
        return to_rgb8(img, assume_bgr=True)
    enc = str(msg.encoding).lower()
    if enc not in _ENCODINGS:
        raise ValueError(f"unsupported Image encoding {msg.encoding!r}; supported: {', '.join(_ENCODINGS)}")
    channels, dtype, bgr = _ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    item = np.dtype(dtype).itemsize
    data = bytes(msg.data)
    if h <= 0 or w <= 0 or step < w * channels * item or len(data) < h * step:
        raise ValueError(f"Image {w}x{h} step {step} ({msg.encoding}) has {len(data)} bytes")
    rows = np.frombuffer(data, np.uint8, count=h * step).reshape(h, step)[:, : w * channels * item]
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<") if item > 1 else np.dtype(dtype)
    img = np.ascontiguousarray(rows).view(dt).reshape(h, w, channels).astype(dtype)
    if channels == 1:
        img = img[..., 0]
    return to_rgb8(img, assume_bgr=bgr)


def _camera_info_topic(image_topic: str) -> str:
    parent = image_topic.rsplit("/", 1)[0]
    return f"{parent}/camera_info"


def _stamp(msg, log_time_ns: int) -> float:
    header = getattr(msg, "header", None)
    if header is not None:
        s = float(header.stamp.sec) + float(header.stamp.nanosec) * 1e-9
        if s > 0:
            return s
    return log_time_ns * 1e-9


def list_image_topics(path: str | Path) -> dict[str, str]:
    """``{topic: message type}`` of the image topics of a bag (from the MCAP summaries)."""
    from mcap.reader import make_reader

    out: dict[str, str] = {}
    for file in bag_files(path):
        with open(file, "rb") as f:
            summary = make_reader(f).get_summary()
        if summary is None:
            continue
        for channel in summary.channels.values():
            schema = summary.schemas.get(channel.schema_id)
            if schema is not None and schema.name in IMAGE_TYPES:
                out[channel.topic] = schema.name
    return out


def read_bag_images(path: str | Path, topics: Sequence[str] | None = None, stride: int = 1) -> Iterator[BagImage]:
    """Images of a bag, in log-time order per file.

    Args:
        path: an ``.mcap`` file or a rosbag2 folder (see :func:`bag_files`).
        topics: image topics to read; None = every ``Image`` / ``CompressedImage`` topic.
        stride: keep every ``stride``-th message of each topic (the first always), >= 1.

    Yields :class:`BagImage`. Raises ``ValueError`` for ``stride < 1``, a requested topic
    that the bag lacks, or an undecodable image; ``FileNotFoundError`` for a missing bag.
    """
    from mcap_ros2.reader import read_ros2_messages

    if int(stride) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    available = list_image_topics(path)
    wanted = list(available) if topics is None else list(topics)
    missing = [t for t in wanted if t not in available]
    if missing:
        raise ValueError(f"image topics {missing} not in {path}; image topics there: {sorted(available)}")
    info_topics = {_camera_info_topic(t) for t in wanted}
    counts = {t: 0 for t in wanted}
    latest_K: dict[str, np.ndarray] = {}
    for file in bag_files(path):
        for m in read_ros2_messages(str(file), topics=wanted + sorted(info_topics)):
            topic, schema = m.channel.topic, m.schema.name
            if schema == CAMERA_INFO_TYPE:
                k = np.asarray(m.ros_msg.k, dtype=np.float64).reshape(3, 3)
                try:
                    latest_K[topic] = validate_intrinsics(k)
                except ValueError:
                    pass  # an uncalibrated camera publishes K = 0
                continue
            index = counts[topic]
            counts[topic] += 1
            if index % int(stride):
                continue
            yield BagImage(
                topic=topic,
                index=index,
                time=_stamp(m.ros_msg, m.log_time_ns),
                rgb=decode_image_message(m.ros_msg, schema),
                K=latest_K.get(_camera_info_topic(topic)),
            )


__all__ = ["BagImage", "IMAGE_TYPES", "is_bag", "bag_files", "list_image_topics", "read_bag_images",
           "decode_image_message"]
