"""Builders of bad input messages: decompression bombs, corrupt payloads, absurd camera_infos.

Used by the tests and the fault campaign (:mod:`hand_mesh_ros.bench_faults`) to check that
the node refuses each kind with a counted, logged drop. Each builder returns a message or the
payload bytes; none needs a node.
"""

from __future__ import annotations

import array
import struct
import zlib

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image


def _encoded(ext: str, side: int = 8) -> bytearray:
    ok, buf = cv2.imencode(ext, np.full((side, side, 3), 100, np.uint8))
    assert ok
    return bytearray(buf.tobytes())


def jpeg_bomb(width: int, height: int) -> bytes:
    """A ~600-byte baseline JPEG of 8x8 pixels whose SOF0 header declares ``width`` x ``height``
    (each at most 65535, the JPEG limit)."""
    data = _encoded(".jpg")
    i = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_bomb(width: int, height: int) -> bytes:
    """A ~100-byte PNG of 8x8 pixels whose IHDR declares ``width`` x ``height`` (CRC fixed, so
    the header is valid)."""
    data = _encoded(".png")
    i = data.index(b"IHDR")
    data[i + 4:i + 12] = struct.pack(">II", width, height)
    data[i + 17:i + 21] = struct.pack(">I", zlib.crc32(bytes(data[i:i + 17])))
    return bytes(data)


def png_without_pixels(width: int = 64, height: int = 48) -> bytes:
    """A real ``width`` x ``height`` PNG cut a few bytes into its pixel data (IDAT): its header
    is valid (passes a header check), its pixels do not decode."""
    ok, buf = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8))
    data = buf.tobytes()
    return data[: data.index(b"IDAT") + 12]


def compressed(payload: bytes, fmt: str = "jpeg") -> CompressedImage:
    """A ``CompressedImage`` carrying ``payload`` (header left empty)."""
    return CompressedImage(format=fmt, data=array.array("B", payload))


def raw_declaring(width: int, height: int, encoding: str = "rgb8", data_bytes: int = 16) -> Image:
    """A raw ``Image`` declaring ``width`` x ``height`` with only ``data_bytes`` of data."""
    return Image(width=width, height=height, encoding=encoding, step=width * 3,
                 data=array.array("B", bytes(data_bytes)))


def camera_info_with(fx: float, fy: float, cx: float, cy: float, width: int = 0, height: int = 0) -> CameraInfo:
    """A ``CameraInfo`` with ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (any values, NaN and inf
    included) and the given calibration size (0 = unset)."""
    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.k = [float(fx), 0.0, float(cx), 0.0, float(fy), float(cy), 0.0, 0.0, 1.0]
    return info
