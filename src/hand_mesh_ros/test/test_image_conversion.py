"""Image message <-> numpy conversion, one test per encoding cameras produce.

Each encoding is built here independently of the module under test (byte layouts of
sensor_msgs/image_encodings.hpp; YUV from the BT.601 video-range equations), then decoded.
"""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from hand_mesh_ros.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    msg_to_rgb,
    pixel_limit,
    rgb_to_image_msg,
    validate_compressed_msg,
    validate_image_msg,
)
from hand_mesh_ros.malformed_inputs import compressed, jpeg_bomb, png_bomb, png_without_pixels, raw_declaring

H, W = 6, 8


def _rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def _msg(data: bytes, encoding: str, width: int = W, height: int = H, step: int | None = None,
         bigendian: int = 0) -> Image:
    m = Image()
    m.width, m.height, m.encoding, m.is_bigendian = width, height, encoding, bigendian
    m.step = step if step is not None else len(data) // max(height, 1)
    m.data = array.array("B", data)
    return m


@pytest.mark.parametrize("encoding,channels", [("rgb8", [0, 1, 2]), ("bgr8", [2, 1, 0]),
                                               ("rgba8", [0, 1, 2, None]), ("bgra8", [2, 1, 0, None])])
def test_colour_encodings(encoding, channels):
    rgb = _rgb()
    planes = [rgb[..., c] if c is not None else np.full((H, W), 200, np.uint8) for c in channels]
    packed = np.stack(planes, axis=-1)
    out = image_msg_to_rgb(_msg(packed.tobytes(), encoding))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)
    np.testing.assert_array_equal(msg_to_rgb(_msg(packed.tobytes(), encoding)), rgb)


def test_mono8_is_grey_in_all_channels():
    grey = _rgb()[..., 0]
    out = image_msg_to_rgb(_msg(grey.tobytes(), "mono8"))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


@pytest.mark.parametrize("bigendian", [0, 1])
def test_mono16_scaled_by_its_maximum(bigendian):
    rng = np.random.default_rng(1)
    depth = rng.integers(0, 4000, size=(H, W)).astype(np.uint16)
    depth[0, 0] = 4000  # the maximum maps to 255
    data = depth.astype(">u2" if bigendian else "<u2").tobytes()
    out = image_msg_to_rgb(_msg(data, "mono16", bigendian=bigendian))
    expected = np.clip(depth.astype(np.float64) * 255.0 / 4000.0, 0, 255)
    assert np.abs(out[..., 0].astype(np.float64) - expected).max() <= 1.0
    assert out[0, 0, 0] == 255
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def _bt601_yuv(rgb: np.ndarray) -> np.ndarray:
    """Video-range BT.601 Y, Cb, Cr (ITU-R BT.601-7, 8-bit)."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255.0 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    return np.clip(np.round(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def _pairs_image() -> np.ndarray:
    """An image whose horizontal pixel pairs share one colour (no 4:2:2 chroma loss)."""
    rgb = _rgb()
    rgb[:, 1::2] = rgb[:, 0::2]
    return rgb


@pytest.mark.parametrize("encoding,order", [("yuv422", "UYVY"), ("uyvy", "UYVY"),
                                            ("yuv422_yuy2", "YUYV"), ("yuyv", "YUYV")])
def test_yuv422_encodings(encoding, order):
    rgb = _pairs_image()
    yuv = _bt601_yuv(rgb)
    y0, y1 = yuv[:, 0::2, 0], yuv[:, 1::2, 0]
    u, v = yuv[:, 0::2, 1], yuv[:, 0::2, 2]
    quads = np.stack([u, y0, v, y1] if order == "UYVY" else [y0, u, y1, v], axis=-1)  # [H, W/2, 4]
    out = image_msg_to_rgb(_msg(quads.tobytes(), encoding))
    err = np.abs(out.astype(int) - rgb.astype(int))
    assert err.max() <= 4, f"max error {err.max()} for {encoding}"


def test_uyvy_and_yuyv_byte_orders_differ():
    rgb = _pairs_image()
    yuv = _bt601_yuv(rgb)
    quads = np.stack([yuv[:, 0::2, 1], yuv[:, 0::2, 0], yuv[:, 0::2, 2], yuv[:, 1::2, 0]], axis=-1)
    right = image_msg_to_rgb(_msg(quads.tobytes(), "uyvy"))
    wrong = image_msg_to_rgb(_msg(quads.tobytes(), "yuyv"))
    assert np.abs(right.astype(int) - rgb).max() <= 4
    assert np.abs(wrong.astype(int) - rgb).max() > 20


def test_row_padding_in_step_is_ignored():
    rgb = _rgb()
    step = W * 3 + 5
    padded = np.zeros((H, step), np.uint8)
    padded[:, : W * 3] = rgb.reshape(H, W * 3)
    padded[:, W * 3:] = 77
    np.testing.assert_array_equal(image_msg_to_rgb(_msg(padded.tobytes(), "rgb8", step=step)), rgb)


@pytest.mark.parametrize("case,message", [
    ("unknown encoding", lambda: _msg(bytes(H * W * 3), "weird8")),
    ("step smaller than the width", lambda: _msg(bytes(H * W * 3), "rgb8", step=W * 3 - 1)),
    ("zero width", lambda: _msg(b"", "rgb8", width=0, step=0)),
    ("zero height", lambda: _msg(b"", "rgb8", height=0, step=W * 3)),
    ("truncated data", lambda: _msg(bytes(H * W * 3 - 1), "rgb8", step=W * 3)),
    ("odd width for 4:2:2", lambda: _msg(bytes(H * 7 * 2), "yuyv", width=7, step=14)),
])
def test_malformed_images_raise(case, message):
    msg = message()
    with pytest.raises(ImageConversionError):
        validate_image_msg(msg)
    with pytest.raises(ImageConversionError):
        msg_to_rgb(msg)


def test_compressed_jpeg_and_png():
    rgb = cv2.resize(_rgb(), (64, 48), interpolation=cv2.INTER_NEAREST)
    for fmt, tol in ((".png", 0), (".jpg", 60)):
        ok, buf = cv2.imencode(fmt, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert ok
        m = CompressedImage(format=fmt[1:], data=array.array("B", buf.tobytes()))
        out = compressed_msg_to_rgb(m)
        assert out.shape == rgb.shape
        assert np.abs(out.astype(int) - rgb).mean() <= (0 if tol == 0 else 25)
    with pytest.raises(ImageConversionError):
        compressed_msg_to_rgb(CompressedImage(format="jpeg", data=array.array("B", b"not a jpeg")))
    with pytest.raises(ImageConversionError):
        compressed_msg_to_rgb(CompressedImage(format="jpeg"))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_rgb_to_image_msg_round_trip(encoding):
    rgb = _rgb()
    m = rgb_to_image_msg(rgb, encoding)
    assert (m.width, m.height, m.step, m.encoding) == (W, H, W * 3, encoding)
    np.testing.assert_array_equal(image_msg_to_rgb(m), rgb)
    with pytest.raises(ValueError):
        rgb_to_image_msg(rgb[..., 0])
    with pytest.raises(ValueError):
        rgb_to_image_msg(rgb, "mono8")


@pytest.mark.parametrize("payload", [jpeg_bomb(20000, 20000), jpeg_bomb(65000, 65000), png_bomb(32768, 32768),
                                     png_bomb(5000, 5000)],
                         ids=["jpeg 20000^2", "jpeg 65000^2", "png 1 Gpx", "png 25 Mpx"])
def test_decompression_bombs_are_refused_from_their_header_before_decoding(payload):
    # the 600-byte JPEG declaring 20000x20000 took 7.5 s and 2.3 GB to decode
    msg = compressed(payload)
    limit = pixel_limit(1920)
    with pytest.raises(ImageConversionError, match="declares"):
        validate_compressed_msg(msg, limit)
    with pytest.raises(ImageConversionError, match="declares"):
        compressed_msg_to_rgb(msg, limit)


def test_compressed_header_checks_pass_real_images_and_refuse_garbage():
    ok, jpeg = cv2.imencode(".jpg", np.zeros((48, 64, 3), np.uint8))
    assert validate_compressed_msg(compressed(jpeg.tobytes())) == (48, 64)
    assert validate_compressed_msg(compressed(png_without_pixels(), "png")) == (48, 64)  # header only
    with pytest.raises(ImageConversionError, match="does not decode"):
        compressed_msg_to_rgb(compressed(png_without_pixels(), "png"))
    with pytest.raises(ImageConversionError, match="no readable JPEG/PNG header"):
        validate_compressed_msg(compressed(b"\x00" * 600))
    with pytest.raises(ImageConversionError, match="unsupported compressed format"):
        validate_compressed_msg(compressed(jpeg.tobytes(), "16UC1; compressedDepth png"))
    with pytest.raises(ImageConversionError, match="empty"):
        validate_compressed_msg(compressed(b""))


def test_raw_images_declaring_absurd_sizes_are_refused_by_the_same_limit():
    limit = pixel_limit(640)  # (2 x 640)^2 = 1.6 Mpx
    assert limit == 1280 * 1280
    with pytest.raises(ImageConversionError, match="too large"):
        validate_image_msg(raw_declaring(2000, 1000, data_bytes=2000 * 1000 * 3), limit)
    with pytest.raises(ImageConversionError, match="too large"):
        validate_image_msg(raw_declaring(4_000_000_000, 4_000_000_000))  # the default cap
    assert validate_image_msg(raw_declaring(1000, 1000, data_bytes=3_000_000), limit) == (1000, 1000)
