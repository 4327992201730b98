"""Frame-to-frame identity of hands in a stream, for warm starts and ``track_id``.

Hands of a new frame are matched to the tracks of earlier frames one-to-one (Hungarian
algorithm, ``scipy.optimize.linear_sum_assignment``) on the distance between wrists in
pixels divided by the hand's size in pixels; only hands of the same side can match, and
a pair is accepted below ``max_cost`` (by default the wrist moved less than one hand size).
Unmatched hands open new tracks; a track not seen for ``max_missed`` frames is dropped.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclasses.dataclass
class Track:
    """One tracked hand.

    Attributes:
        track_id: identity (>= 1), never reused within a stream.
        side: ``"left"`` / ``"right"``.
        wrist_2d: ``[2]`` pixels, wrist in the last frame it was seen.
        params: ``[61]`` float64 fitted parameters in that frame (warm start).
        missed: frames since it was last seen.
    """

    track_id: int
    side: str
    wrist_2d: np.ndarray
    params: np.ndarray
    missed: int = 0


class HandTracks:
    """Tracks of one stream (see the module docstring).

    Args:
        max_cost: largest accepted wrist displacement, in hand sizes.
        max_missed: frames a track survives without a match.
    """

    def __init__(self, max_cost: float = 1.0, max_missed: int = 3) -> None:
        if max_cost <= 0 or max_missed < 0:
            raise ValueError(f"need max_cost > 0 and max_missed >= 0, got {max_cost}, {max_missed}")
        self.max_cost = float(max_cost)
        self.max_missed = int(max_missed)
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (a new stream starts; ids start again at 1)."""
        self.tracks = []
        self._next_id = 1

    def match(self, sides: list[str], keypoints_2d: np.ndarray) -> list[Track | None]:
        """The track of each new hand, or None for a hand that starts a new track.

        ``sides``: ``N`` sides; ``keypoints_2d``: ``[N, 21, 2]`` pixels (wrist = keypoint 0;
        the hand size is the larger side of the keypoints' box). Does not change the tracks.
        """
        N = len(sides)
        out: list[Track | None] = [None] * N
        if N == 0 or not self.tracks:
            return out
        kp = np.asarray(keypoints_2d, dtype=np.float64).reshape(N, 21, 2)
        size = np.maximum((kp.max(axis=1) - kp.min(axis=1)).max(axis=1), 1.0)  # [N]
        wrists = np.stack([t.wrist_2d for t in self.tracks])  # [T, 2]
        cost = np.linalg.norm(kp[:, None, 0] - wrists[None], axis=-1) / size[:, None]
        same_side = np.array([[s == t.side for t in self.tracks] for s in sides])
        cost = np.where(same_side, cost, 1e6)
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols):
            if cost[i, j] < self.max_cost:
                out[i] = self.tracks[j]
        return out

    def update(self, sides: list[str], keypoints_2d: np.ndarray, params: np.ndarray,
               matched: list[Track | None]) -> list[int]:
        """Store this frame's hands (after fitting) and return their ``track_id`` values.

        ``matched`` is the output of :meth:`match` for the same hands; ``params`` is
        ``[N, 61]``. Tracks without a hand this frame age by one and expire.
        """
        ids: list[int] = []
        seen: set[int] = set()
        for n, side in enumerate(sides):
            track = matched[n]
            if track is None:
                track = Track(self._next_id, side, np.zeros(2), np.zeros(0))
                self._next_id += 1
                self.tracks.append(track)
            track.wrist_2d = np.asarray(keypoints_2d[n][0], dtype=np.float64).copy()
            track.params = np.asarray(params[n], dtype=np.float64).copy()
            track.missed = 0
            seen.add(track.track_id)
            ids.append(track.track_id)
        for track in self.tracks:
            if track.track_id not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return ids


__all__ = ["Track", "HandTracks"]
