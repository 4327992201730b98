"""LatestSlot: newest item wins, drops counted, bounded backlog, clean shutdown."""

from __future__ import annotations

import threading
import time

import pytest

from hand_mesh_ros.latest_slot import LatestSlot


def test_newer_item_replaces_waiting_one_and_is_counted():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.dropped == 2 and slot.pending == 1
    assert slot.take(timeout=0) == 3
    assert slot.pending == 1 and not slot.idle  # taken but not done
    slot.done()
    assert slot.idle
    assert slot.take(timeout=0.01) is None


def test_fast_producer_slow_consumer_keeps_backlog_bounded():
    slot: LatestSlot[int] = LatestSlot()
    seen: list[int] = []
    stop = threading.Event()
    max_pending = 0

    def consumer():
        while not stop.is_set():
            item = slot.take(timeout=0.05)
            if item is not None:
                seen.append(item)
                time.sleep(0.01)  # slow work
                slot.done()

    t = threading.Thread(target=consumer)
    t.start()
    for i in range(2000):
        slot.put(i)
        max_pending = max(max_pending, slot.pending)
        if i % 50 == 0:
            time.sleep(0.002)
    deadline = time.monotonic() + 2
    while not slot.idle and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join()
    assert max_pending <= 2
    assert seen == sorted(seen) and seen[-1] == 1999  # in order, the last one always processed
    assert slot.taken + slot.dropped == slot.put_count == 2000
    assert slot.dropped > 1000  # the consumer is ~100x slower than the producer


def test_close_wakes_a_waiting_consumer():
    slot: LatestSlot[int] = LatestSlot()
    result = []
    t = threading.Thread(target=lambda: result.append(slot.take(timeout=10)))
    t.start()
    time.sleep(0.05)
    slot.close()
    t.join(timeout=2)
    assert not t.is_alive() and result == [None]
    with pytest.raises(RuntimeError):
        slot.put(1)
