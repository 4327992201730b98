"""``hand_mesh_core.Prediction`` <-> ``hand_mesh_msgs/HandMeshArray``.

Layouts are those documented in ``hand_mesh_msgs/msg/HandMesh.msg`` and
``HandMeshArray.msg``: flat row-major ``float32[]`` arrays (keypoints ``21 x 2`` pixels,
``21 x 3`` metres, vertices ``V x 3`` metres, optical frame of the header, REP-103), flat
``uint32[]`` triangle lists per side, ``float64[9]`` row-major ``K``. Arrays are handed to
rclpy as ``array.array`` built from the numpy bytes, which rclpy copies in C (a per-element
Python loop would cost milliseconds per hand).
"""

from __future__ import annotations

import array
import math

import numpy as np
from geometry_msgs.msg import Pose
from hand_mesh_msgs.msg import HandMesh, HandMeshArray
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from hand_mesh_core.results import HandResult, Prediction

#: Values of ``HandMeshArray.intrinsics_source``.
INTRINSICS_SOURCES = ("camera_info", "default_fov")

# Keypoint indices (MediaPipe / OpenPose order) used for the wrist frame.
_WRIST, _INDEX_MCP, _MIDDLE_MCP, _PINKY_MCP = 0, 5, 9, 17


def _f32(values: np.ndarray) -> array.array:
    return array.array("f", np.ascontiguousarray(values, dtype=np.float32).tobytes())


def _u32(values: np.ndarray) -> array.array:
    return array.array("I", np.ascontiguousarray(values, dtype=np.uint32).tobytes())


def wrist_frame(keypoints_3d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrist position and hand orientation from 21 keypoints (metres, optical frame).

    Frame (the one ``HandMesh.wrist_pose`` documents):

    * origin: the wrist keypoint;
    * x: unit vector from the wrist to the middle-finger MCP;
    * z: palm normal ``(pinky MCP - wrist) x (index MCP - wrist)``, made orthogonal to x.
      For a right hand it points out of the back of the hand, for a left hand (the mirror
      image) out of the palm;
    * y = z x x (right-handed).

    Args:
        keypoints_3d: ``[21, 3]`` metres, MediaPipe order.

    Returns:
        ``(position [3] float64 metres, quaternion [4] float64 (x, y, z, w))``. When the
        palm points are degenerate (collinear or coincident, which no real hand gives) the
        orientation is the identity quaternion.

    Raises:
        ValueError: wrong shape or non-finite values.
    """
    kp = np.asarray(keypoints_3d, dtype=np.float64)
    if kp.shape != (21, 3):
        raise ValueError(f"keypoints_3d must be [21, 3], got {kp.shape}")
    if not np.isfinite(kp).all():
        raise ValueError("keypoints_3d contains NaN or infinite values")
    origin = kp[_WRIST]
    x = kp[_MIDDLE_MCP] - origin
    z = np.cross(kp[_PINKY_MCP] - origin, kp[_INDEX_MCP] - origin)
    nx = np.linalg.norm(x)
    if nx < 1e-9:
        return origin, np.array([0.0, 0.0, 0.0, 1.0])
    x /= nx
    z -= np.dot(z, x) * x
    nz = np.linalg.norm(z)
    if nz < 1e-9:
        return origin, np.array([0.0, 0.0, 0.0, 1.0])
    z /= nz
    y = np.cross(z, x)
    quat = Rotation.from_matrix(np.stack([x, y, z], axis=1)).as_quat()
    return origin, quat


def _roi(bbox: np.ndarray, width: int, height: int) -> RegionOfInterest:
    """Integer ROI covering ``bbox`` (x0, y0, x1, y1 pixels), clipped to the image."""
    x0 = min(max(int(math.floor(float(bbox[0]))), 0), width)
    y0 = min(max(int(math.floor(float(bbox[1]))), 0), height)
    x1 = min(max(int(math.ceil(float(bbox[2]))), x0), width)
    y1 = min(max(int(math.ceil(float(bbox[3]))), y0), height)
    return RegionOfInterest(x_offset=x0, y_offset=y0, width=x1 - x0, height=y1 - y0, do_rectify=False)


def hand_to_msg(hand: HandResult, width: int, height: int) -> HandMesh:
    """One :class:`HandResult` as a ``HandMesh`` (image size for the ROI clipping)."""
    m = HandMesh()
    m.track_id = int(hand.track_id)
    m.handedness = HandMesh.RIGHT if hand.handedness == "right" else HandMesh.LEFT
    m.handedness_confidence = float(hand.handedness_score)
    m.score = float(hand.score)
    m.roi = _roi(hand.bbox, width, height)
    m.keypoints_2d = _f32(hand.keypoints_2d)
    if hand.keypoint_scores is not None:
        m.keypoint_confidence = _f32(hand.keypoint_scores)
    m.keypoints_3d = _f32(hand.keypoints_3d)
    m.vertices = _f32(hand.vertices)
    m.pose = _f32(hand.pose)
    m.shape = _f32(hand.shape)
    m.translation.x, m.translation.y, m.translation.z = (float(v) for v in hand.transl)
    position, quat = wrist_frame(hand.keypoints_3d)
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in quat)
    m.wrist_pose = pose
    return m


def prediction_to_msg(
    prediction: Prediction,
    header: Header,
    *,
    intrinsics_source: str,
    processing_time: float = 0.0,
) -> HandMeshArray:
    """Build the ``HandMeshArray`` of ``prediction``.

    Args:
        prediction: hands of one image (:class:`hand_mesh_core.results.Prediction`).
        header: header of the input image (stamp and frame_id are copied).
        intrinsics_source: ``"camera_info"`` or ``"default_fov"``.
        processing_time: seconds from receiving the image to publishing.

    Raises:
        ValueError: unknown ``intrinsics_source``, or hands with different vertex counts.
    """
    if intrinsics_source not in INTRINSICS_SOURCES:
        raise ValueError(f"intrinsics_source must be one of {INTRINSICS_SOURCES}, got {intrinsics_source!r}")
    counts = {h.vertices.shape[0] for h in prediction}
    if len(counts) > 1:
        raise ValueError(f"hands have different vertex counts {sorted(counts)}")
    width, height = prediction.image_size
    msg = HandMeshArray()
    msg.header = header
    msg.image_width, msg.image_height = width, height
    msg.k = np.asarray(prediction.K, dtype=np.float64).reshape(9)
    msg.intrinsics_source = intrinsics_source
    msg.hand_model = prediction.hand_model
    msg.backend = prediction.backend
    msg.processing_time = float(processing_time)
    msg.num_vertices = counts.pop() if counts else 0
    if "left" in prediction.faces:
        msg.faces_left = _u32(prediction.faces["left"])
    if "right" in prediction.faces:
        msg.faces_right = _u32(prediction.faces["right"])
    msg.hands = [hand_to_msg(h, width, height) for h in prediction]
    return msg


def _np(values: array.array, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.frombuffer(values, dtype=np.float32) if len(values) else np.zeros(0, np.float32)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{name} has {arr.size} values, expected {shape}")
    return arr.reshape(shape).copy()


def prediction_from_msg(msg: HandMeshArray) -> Prediction:
    """Inverse of :func:`prediction_to_msg`: a :class:`Prediction` a subscriber can draw.

    ``bbox`` becomes the integer ROI; ``timings`` holds ``{"total": processing_time ms}``.
    Raises ``ValueError`` when an array's length does not match the documented layout.
    """
    nv = int(msg.num_vertices)
    hands = []
    for i, m in enumerate(msg.hands):
        r = m.roi
        hands.append(
            HandResult(
                handedness="right" if m.handedness == HandMesh.RIGHT else "left",
                handedness_score=float(m.handedness_confidence),
                score=float(m.score),
                bbox=np.array([r.x_offset, r.y_offset, r.x_offset + r.width, r.y_offset + r.height], np.float32),
                keypoints_2d=_np(m.keypoints_2d, (21, 2), f"hands[{i}].keypoints_2d"),
                keypoints_3d=_np(m.keypoints_3d, (21, 3), f"hands[{i}].keypoints_3d"),
                vertices=_np(m.vertices, (nv, 3), f"hands[{i}].vertices"),
                pose=_np(m.pose, (48,), f"hands[{i}].pose"),
                shape=_np(m.shape, (10,), f"hands[{i}].shape"),
                transl=np.array([m.translation.x, m.translation.y, m.translation.z], np.float32),
                keypoint_scores=_np(m.keypoint_confidence, (21,), f"hands[{i}].keypoint_confidence")
                if len(m.keypoint_confidence) else None,
                track_id=int(m.track_id),
            )
        )
    faces = {}
    for side, flat in (("left", msg.faces_left), ("right", msg.faces_right)):
        if len(flat):
            if len(flat) % 3:
                raise ValueError(f"faces_{side} has {len(flat)} indices, not a multiple of 3")
            faces[side] = np.frombuffer(flat, dtype=np.uint32).reshape(-1, 3).astype(np.int32)
    return Prediction(
        hands,
        image_size=(int(msg.image_width), int(msg.image_height)),
        K=np.asarray(msg.k, dtype=np.float64).reshape(3, 3),
        backend=msg.backend,
        hand_model=msg.hand_model,
        faces=faces,
        timings={"total": float(msg.processing_time) * 1000.0},
    )
