"""Warm starts of the two_stage fit in stream mode: each tracked hand's previous solution.

Identity comes from the shared tracker (:class:`hand_mesh_core.tracking.HandTracker`, the
same association every backend uses); this store keeps, per ``track_id``, the side and
the 61 fitted parameters of the last frame the hand was fitted in, so that its next fit
starts there (a few Levenberg-Marquardt iterations instead of a cold start). A hand whose
handedness changed since is fitted from scratch: left and right parameters are not
interchangeable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class WarmStarts:
    """``track_id -> (side, params [61])`` of the last fit of each tracked hand."""

    def __init__(self) -> None:
        self._store: dict[int, tuple[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._store)

    def get(self, track_ids: Sequence[int], sides: Sequence[str]) -> list[np.ndarray | None]:
        """The stored float64 ``[61]`` parameters per hand, or None (unknown id, other side, id 0)."""
        if len(track_ids) != len(sides):
            raise ValueError(f"{len(track_ids)} track ids but {len(sides)} sides")
        out: list[np.ndarray | None] = []
        for track_id, side in zip(track_ids, sides):
            stored = self._store.get(int(track_id))
            out.append(stored[1].copy() if stored is not None and stored[0] == side else None)
        return out

    def put(self, track_ids: Sequence[int], sides: Sequence[str], params: np.ndarray) -> None:
        """Store this frame's solutions ``params [N, 61]`` of hands ``track_ids`` (ids 0 are skipped)."""
        params = np.asarray(params, dtype=np.float64)
        if not (len(track_ids) == len(sides) == len(params)):
            raise ValueError(f"{len(track_ids)} track ids, {len(sides)} sides and {len(params)} parameter rows")
        for track_id, side, p in zip(track_ids, sides, params):
            if track_id:
                self._store[int(track_id)] = (side, p.copy())

    def retain(self, track_ids: Iterable[int]) -> None:
        """Forget every hand whose id is not in ``track_ids`` (its track expired)."""
        keep = set(track_ids)
        self._store = {k: v for k, v in self._store.items() if k in keep}

    def clear(self) -> None:
        """Forget everything (a new stream)."""
        self._store = {}


__all__ = ["WarmStarts"]
