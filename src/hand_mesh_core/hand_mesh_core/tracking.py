"""Hand identity over a video stream: stable ``track_id`` values for every backend.

Each frame's hands are assigned to the tracks of earlier frames one-to-one by the
Hungarian algorithm (Kuhn 1955; ``scipy.optimize.linear_sum_assignment``) on the cost

    cost(hand, track) = d + iou_weight * (1 - IoU) + side_cost * [side differs]

* ``d``: distance in pixels between the hand's wrist (keypoint 0) and the wrist the track
  *predicts* for this frame, divided by the hand's size (the mean of the two hands' sizes;
  a hand's size is the longer side of its keypoints' box). The prediction is constant
  velocity: ``wrist + velocity * (t - t_last)``, the velocity being an exponential average
  of the track's observed wrist displacements per second. This is what keeps identities
  when two hands cross: at the crossing the nearest previous wrist may be the other hand's,
  the predicted one is not;
* ``IoU``: intersection over union of the hand's keypoint box and the track's last box
  moved by the predicted displacement (:func:`hand_mesh_core.boxes.box_iou`);
* ``side``: a disagreement between the hand's reported handedness and the track's costs
  ``side_cost``; it does not forbid the pair, so a hand keeps its identity when the detector
  flips its handedness for a frame (MediaPipe does on half-visible or ambiguous hands) while,
  between a left and a right hand side by side, the handedness still decides.

Handedness of a track: a physical hand does not change sides, so each track sums the
evidence of its observations, the log-odds ``+-log(p / (1 - p))`` of each reported side
with confidence ``p`` (clipped to [0.5, 0.99]), saturated at ``+-max_evidence`` so that a
consistent contrary report still wins within a few frames. The track's side is the sign of
the sum and its confidence ``sigmoid(|sum|)`` (:meth:`HandTracker.side`). The two_stage
backend fits the hand model of that side: it chooses the model before the mesh is made.
The single_stage network picks the side inside its decoding, so there the per-frame
handedness stays (the evidence still steers the association).

Gating: a pair whose ``d`` exceeds ``max_distance`` is never made. Unassigned hands open
new tracks with the next id (1, 2, ...; an id is never reused until :meth:`HandTracker.reset`);
a track not seen for more than ``max_missed`` consecutive frames (the patience) is dropped,
so a hand that comes back later gets a new id.

Used by the base :class:`~hand_mesh_core.predictor.Predictor` in stream mode
(``video=True``) for backends that report hands without identity (single_stage), and by
the two_stage pipeline before fitting (a tracked hand's fit starts from its previous
solution, :mod:`hand_mesh_core.two_stage.warm_starts`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from hand_mesh_core.boxes import box_iou
from hand_mesh_core.results import SIDES

#: Cost standing for "forbidden" in the assignment matrix (any finite cost is far below).
_FORBIDDEN = 1e9


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
    """Parameters of :class:`HandTracker` (see the module docstring for the cost).

    Attributes:
        max_missed: patience: consecutive frames a track survives without a hand (>= 0).
        max_distance: gate on the wrist distance from the predicted wrist, in hand sizes (> 0).
        iou_weight: weight of ``1 - IoU`` of the keypoint boxes (>= 0).
        side_cost: cost of a handedness disagreement (>= 0).
        velocity_weight: weight in (0, 1] of the newest wrist displacement in the track's
            velocity (exponential average); 1 = last displacement only.
        max_evidence: saturation (> 0) of a track's summed handedness log-odds.

    Raises ``ValueError`` for values out of range.
    """

    max_missed: int = 5
    max_distance: float = 1.5
    iou_weight: float = 0.5
    side_cost: float = 0.5
    velocity_weight: float = 0.5
    max_evidence: float = 10.0

    def __post_init__(self) -> None:
        if int(self.max_missed) != self.max_missed or self.max_missed < 0:
            raise ValueError(f"max_missed must be an integer >= 0, got {self.max_missed!r}")
        if not self.max_distance > 0:
            raise ValueError(f"max_distance must be > 0, got {self.max_distance!r}")
        if self.iou_weight < 0 or self.side_cost < 0:
            raise ValueError(f"iou_weight and side_cost must be >= 0, got {self.iou_weight!r}, {self.side_cost!r}")
        if not 0 < self.velocity_weight <= 1:
            raise ValueError(f"velocity_weight must be in (0, 1], got {self.velocity_weight!r}")
        if not self.max_evidence > 0:
            raise ValueError(f"max_evidence must be > 0, got {self.max_evidence!r}")


@dataclasses.dataclass
class Track:
    """One tracked hand (pixels of the stream's images, seconds of its timestamps).

    Attributes:
        track_id: identity (>= 1), never reused within a stream.
        side: ``"left"`` / ``"right"``, the side its evidence favours.
        evidence: summed handedness log-odds, > 0 for right (saturated).
        wrist: float64 ``[2]`` pixels, wrist when last seen.
        box: float64 ``[4]`` pixels ``(x0, y0, x1, y1)``, keypoint box when last seen.
        velocity: float64 ``[2]`` pixels per second of the wrist.
        time: timestamp (s) of the frame it was last seen in.
        missed: consecutive frames without a hand since then.
        hits: frames it was seen in.
    """

    track_id: int
    side: str
    wrist: np.ndarray
    box: np.ndarray
    velocity: np.ndarray
    time: float
    evidence: float = 0.0
    missed: int = 0
    hits: int = 1

    def predicted_shift(self, timestamp: float) -> np.ndarray:
        """``[2]`` pixels the wrist is expected to have moved by ``timestamp`` (constant velocity)."""
        return self.velocity * max(timestamp - self.time, 0.0)

    @property
    def size(self) -> float:
        """Longer side (pixels) of the last keypoint box, at least 1."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))


def keypoint_boxes(keypoints_2d: np.ndarray) -> np.ndarray:
    """``[N, 4]`` float64 boxes ``(x0, y0, x1, y1)`` (pixels) around ``[N, 21, 2]`` keypoints."""
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    return np.concatenate([kp.min(axis=1), kp.max(axis=1)], axis=1)


class HandTracker:
    """Track ids for the hands of consecutive frames of one stream (module docstring).

    Args:
        settings: :class:`TrackerSettings` (defaults when None).

    Attributes:
        tracks: the live :class:`Track` objects.
    """

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.tracks: list[Track] = []
        self._next_id = 1
        self._last_time: float | None = None

    def reset(self) -> None:
        """Forget every track: a new stream starts and ids start again at 1."""
        self.tracks = []
        self._next_id = 1
        self._last_time = None

    def side(self, track_id: int) -> tuple[str, float]:
        """``(side, confidence)`` of a live track: the sign of its evidence and ``sigmoid(|evidence|)``.

        Raises ``KeyError`` for an id that is not live.
        """
        for t in self.tracks:
            if t.track_id == track_id:
                return t.side, float(1.0 / (1.0 + np.exp(-abs(t.evidence))))
        raise KeyError(f"no live track {track_id}")

    @property
    def track_ids(self) -> set[int]:
        """Ids of the live tracks."""
        return {t.track_id for t in self.tracks}

    def cost_matrix(self, sides: Sequence[str], keypoints_2d: np.ndarray, timestamp: float) -> np.ndarray:
        """``[N, T]`` assignment costs of ``N`` hands against the live tracks (``inf`` = gated out).

        ``sides``: ``N`` of ``"left"``/``"right"``; ``keypoints_2d``: ``[N, 21, 2]`` pixels;
        ``timestamp``: seconds of this frame. Does not change the tracks.
        """
        kp = self._check(sides, keypoints_2d)
        N, T = len(kp), len(self.tracks)
        if N == 0 or T == 0:
            return np.zeros((N, T))
        s = self.settings
        boxes = keypoint_boxes(kp)
        size = np.maximum((boxes[:, 2:] - boxes[:, :2]).max(axis=1), 1.0)  # [N]
        shift = np.stack([t.predicted_shift(timestamp) for t in self.tracks])  # [T, 2]
        wrists = np.stack([t.wrist for t in self.tracks]) + shift
        track_boxes = np.stack([t.box for t in self.tracks]) + np.tile(shift, 2)
        track_size = np.array([t.size for t in self.tracks])
        scale = 0.5 * (size[:, None] + track_size[None])
        dist = np.linalg.norm(kp[:, None, 0] - wrists[None], axis=-1) / scale
        differ = np.array([[side != t.side for t in self.tracks] for side in sides], dtype=np.float64).reshape(N, T)
        cost = dist + s.iou_weight * (1.0 - box_iou(boxes, track_boxes)) + s.side_cost * differ
        return np.where(dist <= s.max_distance, cost, np.inf)

    def update(self, sides: Sequence[str], keypoints_2d: np.ndarray, timestamp: float,
               side_scores: Sequence[float] | None = None) -> list[int]:
        """Assign this frame's hands to tracks and return their ``track_id`` values.

        Args:
            sides: ``N`` sides (``"left"``/``"right"``), one per hand.
            keypoints_2d: ``[N, 21, 2]`` pixels, MediaPipe order (keypoint 0 = wrist).
            timestamp: seconds of this frame. One earlier than the previous frame's (stamps
                out of order in a recording) is taken as the previous frame's time: no
                motion is predicted for it. A new stream needs :meth:`reset`.
            side_scores: ``N`` confidences in [0, 1] of ``sides`` (None = 0.99 each); they
                update the tracks' handedness evidence (:meth:`side`).

        Returns:
            ``N`` ids (>= 1): an existing track's for an assigned hand, a new one otherwise.
            Tracks left without a hand age by one frame and expire after ``max_missed``.

        Raises:
            ValueError: mismatched lengths, a bad side or score, non-finite keypoints or
                timestamp.
        """
        kp = self._check(sides, keypoints_2d)
        scores = np.full(len(sides), 0.99) if side_scores is None else np.asarray(side_scores, dtype=np.float64)
        if scores.shape != (len(sides),) or not np.isfinite(scores).all() or (scores < 0).any() or (scores > 1).any():
            raise ValueError(f"side_scores must be {len(sides)} numbers in [0, 1], got {side_scores!r}")
        p = np.clip(scores, 0.5, 0.99)
        log_odds = np.log(p / (1.0 - p)) * np.where(np.array(sides, dtype=object) == "right", 1.0, -1.0)
        timestamp = float(timestamp)
        if not np.isfinite(timestamp):
            raise ValueError(f"timestamp must be finite, got {timestamp}")
        if self._last_time is not None:
            timestamp = max(timestamp, self._last_time)
        self._last_time = timestamp
        cost = self.cost_matrix(sides, kp, timestamp)
        assigned: dict[int, Track] = {}
        if cost.size:
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, _FORBIDDEN))
            assigned = {int(i): self.tracks[j] for i, j in zip(rows, cols) if np.isfinite(cost[i, j])}
        boxes = keypoint_boxes(kp)
        ids: list[int] = []
        for n, side in enumerate(sides):
            track = assigned.get(n)
            if track is None:
                track = Track(self._next_id, side, kp[n, 0].copy(), boxes[n], np.zeros(2), timestamp, hits=0)
                self._next_id += 1
                self.tracks.append(track)
            else:
                dt = timestamp - track.time
                if dt > 0:
                    w = self.settings.velocity_weight
                    track.velocity = w * (kp[n, 0] - track.wrist) / dt + (1.0 - w) * track.velocity
            cap = self.settings.max_evidence
            track.evidence = float(np.clip(track.evidence + log_odds[n], -cap, cap))
            track.side = side if track.evidence == 0 else ("right" if track.evidence > 0 else "left")
            track.wrist, track.box, track.time = kp[n, 0].copy(), boxes[n], timestamp
            track.missed = 0
            track.hits += 1
            ids.append(track.track_id)
        seen = set(ids)
        for track in self.tracks:
            if track.track_id not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.settings.max_missed]
        return ids

    @staticmethod
    def _check(sides: Sequence[str], keypoints_2d: np.ndarray) -> np.ndarray:
        kp = np.asarray(keypoints_2d, dtype=np.float64)
        if len(sides) == 0 and kp.size == 0:
            return np.zeros((0, 21, 2))
        if kp.ndim != 3 or kp.shape[1:] != (21, 2) or len(kp) != len(sides):
            raise ValueError(f"keypoints_2d must be [{len(sides)}, 21, 2] for {len(sides)} sides, got {kp.shape}")
        if not np.isfinite(kp).all():
            raise ValueError("keypoints_2d contain NaN or infinite values")
        bad = [s for s in sides if s not in SIDES]
        if bad:
            raise ValueError(f"sides must be 'left' or 'right', got {bad}")
        return kp


__all__ = ["HandTracker", "Track", "TrackerSettings", "keypoint_boxes"]
