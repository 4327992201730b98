"""The result types every backend returns: one :class:`HandResult` per hand, in a :class:`Prediction`.

Conventions (shared by the two-stage pipeline, the single-stage network and the ROS node):

* 3D quantities are in metres in the camera optical frame of REP-103 (x right, y down,
  z forward) of the camera whose intrinsics ``K`` the prediction carries.
* 2D quantities are in pixels of the *input* image: u right, v down, origin at the
  top-left corner of the top-left pixel (the OpenCV convention, see
  :mod:`hand_mesh_core.camera`).
* Keypoints: 21 in the MediaPipe / OpenPose order (wrist, thumb CMC/MCP/IP/tip, index
  MCP/PIP/DIP/tip, middle, ring, pinky); the names are
  :data:`hand_mesh_core.hand_model.KEYPOINT_NAMES` and every JSON file carries them.
* ``pose`` is MANO's 48 axis-angle numbers (radians): ``global_orient`` (3, rotation of the
  hand about its wrist, expressed in the optical frame) followed by ``hand_pose`` (45 = 15
  joints x 3, relative to the parent, MANO joint order). ``shape`` is the 10 ``betas`` and
  ``transl`` the translation (metres) of the hand model, so that
  ``HandModel(side)(betas=shape, global_orient=pose[:3], hand_pose=pose[3:], transl=transl)``
  reproduces ``vertices`` and ``keypoints_3d`` (MANO semantics, Romero et al. 2017).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import project_np, validate_intrinsics

#: Identifier and version of the JSON layout written by :meth:`Prediction.to_dict`.
JSON_FORMAT = "hand_mesh.prediction/1"

#: The two values ``HandResult.handedness`` may take.
SIDES = ("left", "right")

_POSE_LAYOUT = (
    "pose[0:3] = global_orient (axis-angle, rad, optical frame, about the wrist); "
    "pose[3:48] = hand_pose (15 MANO joints x axis-angle, rad, relative to parent, "
    "MANO joint order: index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3)"
)
_UNITS = {
    "bbox": "pixels (x0, y0, x1, y1)",
    "keypoints_2d": "pixels (u right, v down, origin top-left corner)",
    "keypoints_3d": "metres, camera optical frame (x right, y down, z forward)",
    "vertices": "metres, camera optical frame",
    "transl": "metres",
    "pose": "radians (axis-angle)",
    "timings": "milliseconds",
}


def _array(value: Any, shape: tuple[int | None, ...], name: str, dtype=np.float32) -> np.ndarray:
    """``value`` as a finite array of ``dtype`` with ``shape`` (None = any size), else ValueError."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, arr.shape)):
        want = "x".join("N" if s is None else str(s) for s in shape)
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


@dataclasses.dataclass
class HandResult:
    """One reconstructed hand.

    Attributes:
        handedness: ``"left"`` or ``"right"`` (the person's hand, for an ordinary,
            non-mirrored camera image).
        handedness_score: confidence of ``handedness`` in [0, 1].
        score: detection / presence confidence of the hand in [0, 1].
        bbox: float32 ``[4]`` pixels ``(x0, y0, x1, y1)``, ``x0 <= x1``, ``y0 <= y1``.
        keypoints_2d: float32 ``[21, 2]`` pixels, MediaPipe order; the projection of
            ``keypoints_3d`` through ``K`` for model-based backends.
        keypoints_3d: float32 ``[21, 3]`` metres, optical frame, MediaPipe order.
        vertices: float32 ``[V, 3]`` metres, optical frame (``V`` of the hand model).
        pose: float32 ``[48]`` radians: ``global_orient`` (3) + ``hand_pose`` (45).
        shape: float32 ``[10]`` betas.
        transl: float32 ``[3]`` metres.
        keypoint_scores: float32 ``[21]`` per-keypoint confidence in [0, 1], or None.
        track_id: identity of the hand over a stream (``>= 1``); 0 = untracked.

    Arrays are converted to float32 and checked on construction: a wrong shape, a NaN or
    infinite value, an unknown side or a score outside [0, 1] raises ``ValueError``.
    """

    handedness: str
    handedness_score: float
    score: float
    bbox: np.ndarray
    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    vertices: np.ndarray
    pose: np.ndarray
    shape: np.ndarray
    transl: np.ndarray
    keypoint_scores: np.ndarray | None = None
    track_id: int = 0

    def __post_init__(self) -> None:
        if self.handedness not in SIDES:
            raise ValueError(f"handedness must be 'left' or 'right', got {self.handedness!r}")
        for name in ("handedness_score", "score"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
            setattr(self, name, value)
        self.bbox = _array(self.bbox, (4,), "bbox")
        if self.bbox[2] < self.bbox[0] or self.bbox[3] < self.bbox[1]:
            raise ValueError(f"bbox must be (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, got {self.bbox}")
        self.keypoints_2d = _array(self.keypoints_2d, (21, 2), "keypoints_2d")
        self.keypoints_3d = _array(self.keypoints_3d, (21, 3), "keypoints_3d")
        self.vertices = _array(self.vertices, (None, 3), "vertices")
        self.pose = _array(self.pose, (48,), "pose")
        self.shape = _array(self.shape, (10,), "shape")
        self.transl = _array(self.transl, (3,), "transl")
        if self.keypoint_scores is not None:
            self.keypoint_scores = _array(self.keypoint_scores, (21,), "keypoint_scores")
        track_id = int(self.track_id)
        if track_id < 0 or track_id != self.track_id:
            raise ValueError(f"track_id must be a non-negative integer, got {self.track_id!r}")
        self.track_id = track_id

    @property
    def global_orient(self) -> np.ndarray:
        """float32 ``[3]`` axis-angle (rad): ``pose[:3]``."""
        return self.pose[:3]

    @property
    def hand_pose(self) -> np.ndarray:
        """float32 ``[45]`` axis-angle (rad): ``pose[3:]``."""
        return self.pose[3:]

    def to_dict(self, include_vertices: bool = True) -> dict[str, Any]:
        """JSON-ready dict (plain lists and numbers) of every field.

        ``include_vertices=False`` leaves ``vertices`` out (the mesh is then rebuilt from
        ``pose``/``shape``/``transl`` with the hand model).
        """
        out: dict[str, Any] = {
            "handedness": self.handedness,
            "handedness_score": self.handedness_score,
            "score": self.score,
            "track_id": self.track_id,
            "bbox": self.bbox.tolist(),
            "keypoints_2d": self.keypoints_2d.tolist(),
            "keypoints_3d": self.keypoints_3d.tolist(),
            "keypoint_scores": None if self.keypoint_scores is None else self.keypoint_scores.tolist(),
            "pose": self.pose.tolist(),
            "shape": self.shape.tolist(),
            "transl": self.transl.tolist(),
        }
        if include_vertices:
            out["vertices"] = self.vertices.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HandResult:
        """Inverse of :meth:`to_dict` (``vertices`` become ``[0, 3]`` when absent)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown HandResult fields: {sorted(unknown)}")
        kwargs = dict(data)
        kwargs.setdefault("vertices", np.zeros((0, 3), np.float32))
        return cls(**kwargs)


def posed_hand_result(
    *,
    handedness: str,
    handedness_score: float,
    score: float,
    keypoints_3d: np.ndarray,
    vertices: np.ndarray | None,
    pose: np.ndarray,
    shape: np.ndarray,
    transl: np.ndarray,
    K: np.ndarray,
    image_size: tuple[int, int],
    keypoint_scores: np.ndarray | None = None,
    track_id: int = 0,
) -> HandResult:
    """The :class:`HandResult` of a posed hand model: the one builder every backend uses.

    The 2D fields follow from the 3D ones and the camera, so they agree by construction:
    ``keypoints_2d`` is the pinhole projection of ``keypoints_3d`` through ``K``
    (:func:`hand_mesh_core.camera.project_np`), ``bbox`` the box of the projected
    ``vertices`` (of the projected keypoints when there is no mesh), clipped to the image.

    Args:
        handedness: ``"left"`` or ``"right"``; handedness_score, score: in ``[0, 1]``
            (clipped).
        keypoints_3d: ``[21, 3]`` metres, optical frame; vertices: ``[V, 3]`` metres or None
            / empty (no mesh).
        pose: ``[48]`` axis-angle radians (global_orient + hand_pose); shape: ``[10]``
            betas; transl: ``[3]`` metres (module docstring: MANO semantics).
        K: ``3x3`` intrinsics (pixels) of the image the 2D fields are in.
        image_size: ``(width, height)`` pixels of that image.
        keypoint_scores, track_id: copied.

    Raises ``ValueError`` for non-finite keypoints or vertices (no box can be drawn around
    them) or fields of the wrong shape (:class:`HandResult`).
    """
    width, height = image_size
    K = np.asarray(K, dtype=np.float64)
    keypoints_2d = project_np(np.asarray(keypoints_3d, dtype=np.float64), K)
    has_mesh = vertices is not None and len(vertices) > 0
    outline = project_np(np.asarray(vertices, dtype=np.float64), K) if has_mesh else keypoints_2d
    box = np.clip(bbox_from_points(outline), 0.0, [width, height, width, height])
    return HandResult(
        handedness=handedness,
        handedness_score=float(np.clip(handedness_score, 0.0, 1.0)),
        score=float(np.clip(score, 0.0, 1.0)),
        bbox=box,
        keypoints_2d=keypoints_2d,
        keypoints_3d=keypoints_3d,
        vertices=vertices if vertices is not None else np.zeros((0, 3), np.float32),
        pose=pose,
        shape=shape,
        transl=transl,
        keypoint_scores=keypoint_scores,
        track_id=track_id,
    )


class Prediction(list):
    """The hands found in one image: a ``list[HandResult]`` with the context to read them.

    Attributes:
        image_size: ``(width, height)`` of the input image in pixels.
        K: float64 ``[3, 3]`` intrinsics (pixels) the 3D results are expressed with; the
            default of :func:`hand_mesh_core.camera.intrinsics_from_fov` when the caller gave none.
        backend: name of the backend that produced it (``"two_stage"``, ``"single_stage"``).
        hand_model: name of the hand model (``"open_hand_v1"``, ``"mano"``, ...).
        faces: ``{"left"|"right": int32 [F, 3]}`` triangles of each side's mesh (indices
            into ``HandResult.vertices``); may be empty when no mesh is produced.
        timings: ``{stage: milliseconds}`` spent on this image (e.g. ``"landmarks"``,
            ``"fitting"``, ``"total"``).

    Raises ``ValueError`` for a non-positive image size, an invalid ``K``, or an element
    that is not a :class:`HandResult`.
    """

    def __init__(
        self,
        hands: Iterable[HandResult] = (),
        *,
        image_size: tuple[int, int],
        K: np.ndarray,
        backend: str,
        hand_model: str,
        faces: dict[str, np.ndarray] | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        super().__init__(hands)
        for i, hand in enumerate(self):
            if not isinstance(hand, HandResult):
                raise ValueError(f"element {i} is a {type(hand).__name__}, not a HandResult")
        width, height = (int(v) for v in image_size)
        if width <= 0 or height <= 0:
            raise ValueError(f"image_size must be positive (width, height), got {image_size}")
        self.image_size = (width, height)
        self.K = validate_intrinsics(K)
        self.backend = str(backend)
        self.hand_model = str(hand_model)
        self.faces: dict[str, np.ndarray] = {}
        for side, tri in (faces or {}).items():
            if side not in SIDES:
                raise ValueError(f"faces keys must be 'left'/'right', got {side!r}")
            self.faces[side] = _array(tri, (None, 3), f"faces[{side!r}]", dtype=np.int32)
        self.timings = {str(k): float(v) for k, v in (timings or {}).items()}

    def __repr__(self) -> str:
        sides = ", ".join(h.handedness for h in self)
        return (
            f"Prediction({len(self)} hands [{sides}], image_size={self.image_size}, "
            f"backend={self.backend!r}, hand_model={self.hand_model!r})"
        )

    def to_dict(self, include_mesh: bool = True) -> dict[str, Any]:
        """JSON-ready dict: context, units, keypoint order and one entry per hand.

        ``include_mesh=False`` leaves out vertices and faces (a few kB instead of ~100 kB
        per hand).
        """
        from hand_mesh_core.hand_model import KEYPOINT_NAMES

        out: dict[str, Any] = {
            "format": JSON_FORMAT,
            "backend": self.backend,
            "hand_model": self.hand_model,
            "image_size": {"width": self.image_size[0], "height": self.image_size[1]},
            "K": self.K.tolist(),
            "keypoint_order": list(KEYPOINT_NAMES),
            "pose_layout": _POSE_LAYOUT,
            "units": dict(_UNITS),
            "timings": dict(self.timings),
            "hands": [h.to_dict(include_vertices=include_mesh) for h in self],
        }
        if include_mesh:
            out["faces"] = {side: tri.tolist() for side, tri in self.faces.items()}
        return out

    def to_json(self, path: str | Path | None = None, include_mesh: bool = True, indent: int | None = None) -> str:
        """Serialise :meth:`to_dict` to a JSON string; also write it to ``path`` if given."""
        text = json.dumps(self.to_dict(include_mesh=include_mesh), indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        """Inverse of :meth:`to_dict`. Raises ``ValueError`` for another format."""
        if data.get("format") != JSON_FORMAT:
            raise ValueError(f"not a {JSON_FORMAT} document (format={data.get('format')!r})")
        size = data["image_size"]
        return cls(
            (HandResult.from_dict(h) for h in data["hands"]),
            image_size=(size["width"], size["height"]),
            K=np.asarray(data["K"]),
            backend=data["backend"],
            hand_model=data["hand_model"],
            faces={k: np.asarray(v) for k, v in data.get("faces", {}).items()},
            timings=data.get("timings"),
        )

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> Prediction:
        """Read a file written by :meth:`to_json` (or parse the JSON text itself)."""
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            text = Path(path_or_text).read_text()
        return cls.from_dict(json.loads(text))

    def plot(self, image: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Draw the hands over ``image`` (``HxWx3 uint8`` RGB); returns a new RGB image.

        Delegates to :func:`hand_mesh_core.viz.draw_hands` (meshes, left and right in
        different colours, skeletons, labels); ``kwargs`` are passed on.
        """
        from hand_mesh_core.viz import draw_hands

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
        if (image.shape[1], image.shape[0]) != self.image_size:
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, prediction was made on "
                             f"{self.image_size[0]}x{self.image_size[1]}")
        return draw_hands(image, self, **kwargs)


__all__ = ["HandResult", "Prediction", "posed_hand_result", "JSON_FORMAT", "SIDES"]
