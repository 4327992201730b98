"""A one-item mailbox between a ROS callback and a worker thread: the newest item wins.

The subscription callback :meth:`LatestSlot.put` s each frame and returns at once; the
worker :meth:`LatestSlot.take` s the newest one when it is free. A frame still waiting
when a newer one arrives is replaced and counted as dropped, so memory stays bounded (one
waiting frame) whatever the input rate, and the worker always works on the freshest image.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Thread-safe single-item slot with drop counting.

    Attributes (read under no lock; each is a plain int updated atomically by one writer):
        put_count: items offered with :meth:`put`.
        dropped: items replaced by a newer one before a :meth:`take`.
        taken: items handed to the worker.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._in_progress = False
        self.put_count = 0
        self.dropped = 0
        self.taken = 0

    def put(self, item: T) -> bool:
        """Store ``item``, replacing a waiting one; returns True when one was dropped.

        Raises ``RuntimeError`` after :meth:`close`.
        """
        with self._cond:
            if self._closed:
                raise RuntimeError("LatestSlot is closed")
            dropped = self._has_item
            if dropped:
                self.dropped += 1
            self._item = item
            self._has_item = True
            self.put_count += 1
            self._cond.notify()
            return dropped

    def take(self, timeout: float | None = None) -> T | None:
        """Wait up to ``timeout`` seconds (None = forever) for an item and remove it.

        The item counts as in progress (see :attr:`idle`) until :meth:`done` is called.
        Returns None on timeout or once the slot is closed and empty.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            self._in_progress = True
            self.taken += 1
            return item

    def done(self) -> None:
        """The item from the last :meth:`take` is finished."""
        with self._cond:
            self._in_progress = False

    @property
    def pending(self) -> int:
        """Items waiting or in progress (0, 1 or 2): the whole backlog, bounded by design."""
        with self._cond:
            return int(self._has_item) + int(self._in_progress)

    @property
    def idle(self) -> bool:
        """True when nothing waits and nothing taken is still in progress."""
        return self.pending == 0

    def close(self) -> None:
        """Wake every waiter; later :meth:`take` calls return what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
