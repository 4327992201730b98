"""Messages a subscription never saw, from gaps in each publisher's sequence numbers.

A ROS 2 publisher numbers its messages 1, 2, 3, ... (``MessageInfo.publication_sequence_number``,
rclpy Iron and later, with the publisher's ``publisher_gid``). When a keep-last subscription's
history replaces messages the executor has not taken yet, or best-effort transport loses
some, the callback sees a jump in the numbers: ``seq - last_seq - 1`` messages were lost
before the callback. Nothing else in the node can see them.

Limits: messages a publisher sent after the last one received, and those before the first
one received (a late-joining subscription), are not counted; a publisher that restarts (a new
gid) starts its own count.
"""

from __future__ import annotations

import collections

#: Publishers remembered (least recently heard from forgotten first).
MAX_PUBLISHERS = 64


class SequenceGaps:
    """Per-publisher last sequence number; :meth:`update` returns the messages skipped."""

    def __init__(self) -> None:
        self._last: collections.OrderedDict[bytes, int] = collections.OrderedDict()

    def update(self, publisher: bytes, sequence: int | None) -> int | None:
        """Record that message ``sequence`` of ``publisher`` arrived.

        Returns the number of messages of that publisher skipped since its previous one (0
        when consecutive, or for its first message), or None when ``sequence`` is None or not
        positive (the middleware gives no sequence numbers). A number at or below the previous
        one (reordering, a restarted writer with the same gid) skips nothing.
        """
        if sequence is None or sequence <= 0:
            return None
        last = self._last.pop(publisher, None)
        self._last[publisher] = int(sequence) if last is None else max(last, int(sequence))
        while len(self._last) > MAX_PUBLISHERS:
            self._last.popitem(last=False)
        if last is None or sequence <= last:
            return 0
        return int(sequence) - last - 1


def publisher_key(message_info: dict) -> bytes:
    """The ``publisher_gid`` bytes of an rclpy ``MessageInfo`` (empty when absent)."""
    gid = message_info.get("publisher_gid") or {}
    data = gid.get("data") if isinstance(gid, dict) else gid
    return bytes(data or b"")
