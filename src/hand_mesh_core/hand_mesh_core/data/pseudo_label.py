"""Pseudo-labels: the reference pipeline labels unlabelled images, videos and ROS bags.

The teacher is the ``two_stage`` backend (:class:`~hand_mesh_core.two_stage.backend.TwoStagePredictor`:
MediaPipe HandLandmarker, then the hand-model fit through ``K``). Per hand it gives
MediaPipe's 21 landmarks, the fitted parameters (pose, shape, translation in the camera
of ``K``), the fitted 3D keypoints and their projection, and this module adds a per-hand
confidence (:func:`hand_confidence`). Hands below ``min_confidence`` are *rejected*: not
labelled, but their boxes are recorded so that a trainer can avoid teaching "no hand
here" (the reader drops such images by default, :mod:`hand_mesh_core.data.readers.pseudo_labels`).

Inputs (:func:`iter_media`): image files, folders (recursively: images, videos, MCAP files,
rosbag2 folders), video files (every ``frame_stride``-th frame) and ROS 2 recordings
(``.mcap`` or rosbag2 folders with MCAP storage, :mod:`.bag_images`; every
``frame_stride``-th message per image topic; intrinsics from the topic's ``camera_info``
when recorded). Frames of a video or topic are labelled in MediaPipe's VIDEO mode (its
tracking keeps hands the palm detector misses in some frames) unless ``video_mode`` is off.

On-disk layout written by :func:`write_pseudo_labels` (format ``hand_mesh.pseudo_labels/1``)::

    OUT/
      info.json            format, teacher, settings, inputs, counts
      labels.jsonl         one JSON object per processed frame (see below), appended and
                           flushed frame by frame, so an interrupted run can resume
      images/<name>        the frames that have at least one accepted hand: still images
                           copied byte for byte, video / bag frames as JPEG

Each line of ``labels.jsonl``::

    {"key": unique id of the frame (source path relative to its input, frame number),
     "image": "images/<name>" or null (no accepted hand: no image written),
     "source": input file, "frame": frame / message index or null, "time": seconds,
     "width": W, "height": H, "K": 3x3 pixels, "K_source": "camera_info" | "default_fov",
     "hands": [{"handedness": "left"|"right", "handedness_score", "confidence",
                "reprojection_px", "bbox": [x0, y0, x1, y1] (projected fitted mesh, clipped),
                "landmarks_2d": 21x2 px (MediaPipe), "keypoints_2d": 21x2 px (fit, projected),
                "keypoints_3d": 21x3 m (optical frame of K), "pose": 48 rad, "shape": 10,
                "transl": 3 m}],
     "rejected": [{"handedness", "confidence", "bbox", "reason"}]}

All coordinates follow the library's conventions (pixels from the top-left corner,
metres in the REP-103 optical frame, MediaPipe keypoint order, MANO-style parameters of
the open hand model or of MANO when the teacher used it, named in ``info.json``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.boxes import bbox_from_points
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.data.bag_images import is_bag, read_bag_images
from hand_mesh_core.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, FrameSource, load_rgb

FORMAT = "hand_mesh.pseudo_labels/1"
INDEX_FILE = "labels.jsonl"
INFO_FILE = "info.json"
IMAGES_DIR = "images"


@dataclasses.dataclass
class PseudoLabelSettings:
    """Settings of the teacher and of the acceptance of its hands.

    Attributes:
        min_confidence: hands with a lower :func:`hand_confidence` are rejected, in [0, 1].
        detection_threshold: MediaPipe's palm-detection and presence threshold, in [0, 1].
        max_hands: most hands per frame.
        frame_stride: label every ``frame_stride``-th frame of videos and bag topics, >= 1.
        min_hand_size: hands whose landmark box is smaller (larger side, pixels) are rejected.
        reprojection_scale: fit error (fraction of the hand size) at which the fit factor of
            the confidence falls to 1/e.
        max_image_side: larger frames are downscaled (area) before labelling, K scaled with them.
        video_mode: label the frames of one video / topic in MediaPipe's VIDEO mode.
        jpeg_quality: quality of the JPEG files written for video and bag frames.
        hand_model: ``"open"`` or ``"mano"`` (with ``mano_path``): the model fitted.
        mano_path: MANO folder or file for ``hand_model="mano"``.
    """

    min_confidence: float = 0.5
    detection_threshold: float = 0.5
    max_hands: int = 6
    frame_stride: int = 10
    min_hand_size: float = 24.0
    reprojection_scale: float = 0.05
    max_image_side: int = 1280
    video_mode: bool = True
    jpeg_quality: int = 95
    hand_model: str = "open"
    mano_path: str | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` for out-of-range values."""
        for name in ("min_confidence", "detection_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_hands < 1 or self.frame_stride < 1:
            raise ValueError(f"max_hands and frame_stride must be >= 1, got {self.max_hands}, {self.frame_stride}")
        if self.min_hand_size < 0 or self.reprojection_scale <= 0:
            raise ValueError("min_hand_size must be >= 0 and reprojection_scale > 0")
        if self.max_image_side < 32 or not 1 <= self.jpeg_quality <= 100:
            raise ValueError("max_image_side must be >= 32 and jpeg_quality in [1, 100]")


def hand_confidence(handedness_score: float, reprojection_px: float, hand_size_px: float,
                    reprojection_scale: float = 0.05) -> float:
    """Confidence in [0, 1] of one teacher hand (ours, documented).

    ``handedness_score * exp(-(reprojection_px / hand_size_px) / reprojection_scale)``:

    * MediaPipe Tasks reports no per-hand detection probability; its handedness probability
      (in [0.5, 1]) is low on ambiguous crops (a partial hand, a hand-like object), so it
      serves as the detection factor;
    * the fit factor measures how well the hand model explains the landmarks: a mean
      reprojection error of ``reprojection_scale`` of the hand size (larger side of the
      landmark box, pixels) gives 1/e. MediaPipe's landmarks on a non-hand or a badly
      cropped hand are usually anatomically impossible, which the joint-limited fit cannot
      follow, so this factor falls for them.

    Raises ``ValueError`` for a non-positive hand size or scale, or a negative error.
    """
    if hand_size_px <= 0 or reprojection_scale <= 0 or reprojection_px < 0:
        raise ValueError(f"need hand_size_px > 0, reprojection_scale > 0, reprojection_px >= 0, got "
                         f"{hand_size_px}, {reprojection_scale}, {reprojection_px}")
    score = float(np.clip(handedness_score, 0.0, 1.0))
    return score * math.exp(-(reprojection_px / hand_size_px) / reprojection_scale)


@dataclasses.dataclass
class MediaFrame:
    """One frame to label.

    Attributes:
        key: unique id (source path relative to its input, plus ``#<frame>`` for streams).
        name: file name for the stored image (``key`` made file-safe).
        source: the input file or bag.
        frame: frame / message index within its stream, or None for a still image.
        time: seconds from the start of the stream (0 for stills).
        rgb: ``HxWx3 uint8`` RGB.
        K: intrinsics recorded with the frame (bag ``camera_info``), or None.
        stream: id of the stream the frame belongs to (video file, bag topic), None for stills.
        original: the still image's file (copied byte for byte), or None.
    """

    key: str
    name: str
    source: str
    frame: int | None
    time: float
    rgb: np.ndarray
    K: np.ndarray | None = None
    stream: str | None = None
    original: Path | None = None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text.replace("/", "__")).strip("_") or "frame"


def _walk(root: Path) -> list[Path]:
    """Files and rosbag2 folders under ``root`` (sorted), a bag folder's files excluded."""
    if is_bag(root):
        return [root]
    out: list[Path] = []
    for p in sorted(root.iterdir()):
        if p.is_dir():
            out += _walk(p)
        elif p.is_file():
            out.append(p)
    return out


def iter_media(inputs: Sequence[str | Path], frame_stride: int = 1, topics: Sequence[str] | None = None,
               known: set[str] | None = None) -> Iterator[MediaFrame]:
    """Frames of images, folders (recursive), videos and ROS 2 bags, in input order.

    Args:
        inputs: files and folders. Files are dispatched by suffix: images
            (``media.IMAGE_SUFFIXES``), videos (``media.VIDEO_SUFFIXES``), ``.mcap``; folders
            are walked recursively, and a folder with ``metadata.yaml`` is a rosbag2 bag.
            Other files inside folders are skipped.
        frame_stride: keep every ``frame_stride``-th frame of videos and bag topics.
        topics: image topics of bags (None = all image topics).
        known: keys to skip (already labelled); their pixels are not decoded where avoidable.

    Raises ``FileNotFoundError`` for a missing input and ``ValueError`` for a file of
    unknown type given directly, or ``frame_stride < 1``.
    """
    if int(frame_stride) < 1:
        raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
    known = known or set()
    for given in inputs:
        given = Path(given)
        if not given.exists():
            raise FileNotFoundError(f"input not found: {given}")
        if given.is_dir() and not is_bag(given):
            files, base = _walk(given), given
        else:
            files, base = [given], given.parent
            suffix = given.suffix.lower()
            if given.is_file() and suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES and not is_bag(given):
                raise ValueError(f"unknown input type {given} (images {IMAGE_SUFFIXES}, videos {VIDEO_SUFFIXES}, .mcap)")
        for path in files:
            rel = path.relative_to(base).as_posix() if path != base else path.name
            yield from _frames_of(path, rel, int(frame_stride), topics, known)


def _frames_of(path: Path, rel: str, stride: int, topics, known: set[str]) -> Iterator[MediaFrame]:
    suffix = path.suffix.lower()
    if is_bag(path):
        bag_topics = topics
        if topics is not None:
            from hand_mesh_core.data.bag_images import list_image_topics

            bag_topics = [t for t in topics if t in list_image_topics(path)]
        for im in read_bag_images(path, bag_topics, stride):
            key = f"{rel}{im.topic}#{im.index}"
            if key in known:
                continue
            stem = _safe(f"{Path(rel).stem}{im.topic}")
            yield MediaFrame(key, f"{stem}_f{im.index:06d}.jpg", str(path), im.index, im.time, im.rgb, im.K,
                             stream=f"{path}{im.topic}")
    elif path.is_file() and suffix in IMAGE_SUFFIXES:
        if rel in known:
            return
        yield MediaFrame(rel, _safe(rel), str(path), None, 0.0, load_rgb(path), original=path)
    elif path.is_file() and suffix in VIDEO_SUFFIXES:
        stem = _safe(str(Path(rel).with_suffix("")))
        for frame in FrameSource(path):
            if frame.index % stride:
                continue
            key = f"{rel}#{frame.index}"
            if key in known:
                continue
            yield MediaFrame(key, f"{stem}_f{frame.index:06d}.jpg", str(path), frame.index, frame.time, frame.rgb,
                             stream=str(path))


def _round(a, digits: int = 4) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


class PseudoLabeler:
    """The teacher: the ``two_stage`` backend plus confidence and acceptance.

    Args:
        settings: :class:`PseudoLabelSettings` (defaults when None).
        device: where the fit runs (``"cpu"`` recommended, see the two_stage backend).

    ``label(frame)`` returns ``(K, K_source, hands, rejected)`` for a :class:`MediaFrame`
    (lists of JSON-ready dicts as in the module docstring); frames of one stream must come
    in order. Raises ``ValueError`` for invalid settings.
    """

    def __init__(self, settings: PseudoLabelSettings | None = None, device: str = "cpu") -> None:
        self.settings = settings or PseudoLabelSettings()
        self.settings.validate()
        self.device = device
        self._predictors: dict[bool, object] = {}
        self._stream: str | None = None

    def _predictor(self, video: bool):
        if video not in self._predictors:
            from hand_mesh_core.backends import create_predictor

            s = self.settings
            self._predictors[video] = create_predictor(
                "two_stage", device=self.device, video=video, max_hands=s.max_hands,
                score_threshold=s.detection_threshold, hand_model=s.hand_model, mano_path=s.mano_path,
            )
        return self._predictors[video]

    @property
    def hand_model_name(self) -> str:
        """Name of the fitted hand model (e.g. ``"open_hand_v1"``)."""
        return str(self._predictor(False).hand_model_name)

    def prepare(self, frame: MediaFrame) -> tuple[np.ndarray, np.ndarray, str]:
        """The image the teacher sees (downscaled to ``max_image_side``), its ``K`` and the K's source."""
        rgb = frame.rgb
        h, w = rgb.shape[:2]
        K = frame.K if frame.K is not None else intrinsics_from_fov(w, h)
        source = "camera_info" if frame.K is not None else "default_fov"
        side = self.settings.max_image_side
        if max(w, h) > side:
            s = side / max(w, h)
            nw, nh = max(1, round(w * s)), max(1, round(h * s))
            rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
            K = np.diag([nw / w, nh / h, 1.0]) @ K
        return rgb, K, source

    def label(self, frame: MediaFrame, rgb: np.ndarray, K: np.ndarray) -> tuple[list[dict], list[dict]]:
        """Accepted and rejected hands of ``rgb`` (the prepared frame) with intrinsics ``K``."""
        s = self.settings
        video = s.video_mode and frame.stream is not None
        predictor = self._predictor(video)
        if video and frame.stream != self._stream:
            predictor.reset()
        self._stream = frame.stream if video else None
        out = predictor.run_stages(rgb, K, frame.time if video else None)
        h, w = rgb.shape[:2]
        hands, rejected = [], []
        fit = out.fit
        for n, lm in enumerate(out.landmarks):
            x0, y0, x1, y1 = bbox_from_points(lm.keypoints_2d)
            size = float(max(x1 - x0, y1 - y0, 1e-6))
            conf = hand_confidence(lm.handedness_score, float(fit.reprojection_px[n]), size, s.reprojection_scale)
            outline = project_np(fit.vertices[n].astype(np.float64), K) if fit.vertices is not None else fit.keypoints_2d[n]
            box = np.clip(bbox_from_points(outline), 0.0, [w, h, w, h])
            reason = None
            if size < s.min_hand_size:
                reason = "small"
            elif conf < s.min_confidence:
                reason = "confidence"
            if reason is not None:
                rejected.append({"handedness": lm.handedness, "confidence": round(conf, 4), "bbox": _round(box, 2),
                                 "reason": reason})
                continue
            hands.append({
                "handedness": lm.handedness,
                "handedness_score": round(float(lm.handedness_score), 4),
                "confidence": round(conf, 4),
                "reprojection_px": round(float(fit.reprojection_px[n]), 3),
                "bbox": _round(box, 2),
                "landmarks_2d": _round(lm.keypoints_2d, 2),
                "keypoints_2d": _round(fit.keypoints_2d[n], 2),
                "keypoints_3d": _round(fit.keypoints_3d[n], 5),
                "pose": _round(fit.params[n, :48], 5),
                "shape": _round(fit.part("betas")[n], 5),
                "transl": _round(fit.part("transl")[n], 5),
            })
        return hands, rejected


@dataclasses.dataclass
class PseudoLabelSummary:
    """Counts of one :func:`write_pseudo_labels` run (resumed frames included)."""

    frames: int = 0
    frames_with_hands: int = 0
    hands: int = 0
    rejected: int = 0
    skipped_known: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def read_index(root: str | Path) -> list[dict]:
    """The records of ``root/labels.jsonl`` (empty when the file is absent).

    A truncated last line (an interrupted run) is ignored; any other malformed line raises
    ``ValueError`` naming its line number.
    """
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}:{i + 1} is not valid JSON: {e}") from e
    return out


def write_pseudo_labels(
    inputs: Sequence[str | Path],
    out: str | Path,
    settings: PseudoLabelSettings | None = None,
    *,
    topics: Sequence[str] | None = None,
    resume: bool = True,
    device: str = "cpu",
    progress: Callable[[MediaFrame, list[dict], list[dict]], None] | None = None,
) -> PseudoLabelSummary:
    """Label every frame of ``inputs`` with the teacher and write the dataset to ``out``.

    Args:
        inputs: images, folders, videos, ``.mcap`` files, rosbag2 folders (:func:`iter_media`).
        out: output folder (created). With ``resume``, frames already in its
            ``labels.jsonl`` are skipped and new ones appended; otherwise an existing index
            is an error.
        settings: :class:`PseudoLabelSettings`.
        topics: image topics of bags (None = all).
        device: device of the hand-model fit.
        progress: called after each labelled frame with the frame and its hand lists.

    Returns:
        :class:`PseudoLabelSummary`. ``info.json`` is rewritten at the end with the counts.

    Raises:
        FileExistsError: ``out`` holds an index and ``resume`` is False.
        ValueError / FileNotFoundError: from the inputs or the settings.
    """
    settings = settings or PseudoLabelSettings()
    settings.validate()
    out = Path(out)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    existing = read_index(out)
    if existing and not resume:
        raise FileExistsError(f"{out / INDEX_FILE} exists; pass resume=True to continue it")
    summary = PseudoLabelSummary()
    for rec in existing:
        summary.frames += 1
        summary.frames_with_hands += int(bool(rec["hands"]))
        summary.hands += len(rec["hands"])
        summary.rejected += len(rec["rejected"])
    known = {rec["key"] for rec in existing}
    summary.skipped_known = len(known)
    labeler = PseudoLabeler(settings, device=device)
    _write_info(out, settings, inputs, labeler.hand_model_name, summary, finished=False)
    used_names = {Path(rec["image"]).name for rec in existing if rec.get("image")}
    with open(out / INDEX_FILE, "a") as index:
        for frame in iter_media(inputs, settings.frame_stride, topics, known):
            rgb, K, k_source = labeler.prepare(frame)
            hands, rejected = labeler.label(frame, rgb, K)
            image = None
            if hands:
                image = _store_image(out, frame, rgb, used_names, settings.jpeg_quality)
            rec = {
                "key": frame.key, "image": image, "source": frame.source, "frame": frame.frame,
                "time": round(float(frame.time), 4), "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
                "K": _round(K, 4), "K_source": k_source, "hands": hands, "rejected": rejected,
            }
            index.write(json.dumps(rec, separators=(",", ":")) + "\n")
            index.flush()
            summary.frames += 1
            summary.frames_with_hands += int(bool(hands))
            summary.hands += len(hands)
            summary.rejected += len(rejected)
            if progress is not None:
                progress(frame, hands, rejected)
    _write_info(out, settings, inputs, labeler.hand_model_name, summary, finished=True)
    return summary


def _store_image(out: Path, frame: MediaFrame, rgb: np.ndarray, used: set[str], quality: int) -> str:
    name = frame.name
    copy = frame.original is not None and rgb.shape[:2] == frame.rgb.shape[:2]
    if not copy:
        name = str(Path(name).with_suffix(".jpg"))
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while name in used:
        name = f"{stem}_{n}{suffix}"
        n += 1
    used.add(name)
    dest = out / IMAGES_DIR / name
    if copy:
        shutil.copyfile(frame.original, dest)
    elif not cv2.imwrite(str(dest), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write {dest}")
    return f"{IMAGES_DIR}/{name}"


def _write_info(out: Path, settings: PseudoLabelSettings, inputs: Iterable, hand_model: str,
                summary: PseudoLabelSummary, finished: bool) -> None:
    info = {
        "format": FORMAT,
        "teacher": "two_stage: MediaPipe Tasks HandLandmarker (mediapipe 0.10.21 models) + hand-model fit",
        "hand_model": hand_model,
        "settings": dataclasses.asdict(settings),
        "inputs": [str(p) for p in inputs],
        "counts": summary.as_dict(),
        "finished": finished,
        "updated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")


__all__ = [
    "FORMAT", "INDEX_FILE", "INFO_FILE", "IMAGES_DIR", "PseudoLabelSettings", "PseudoLabeler", "MediaFrame",
    "PseudoLabelSummary", "hand_confidence", "iter_media", "read_index", "write_pseudo_labels",
]
