"""Health of the hand_mesh node: counters, latency window, ``diagnostic_msgs`` message.

The node updates a :class:`NodeStats` from its callbacks (received, malformed, lost before
the callback, camera_infos) and its worker (processed, undecodable, latency, errors); a
timer publishes :func:`diagnostic_array` on ``/diagnostics`` (the ``diagnostic_aggregator``
/ ``rqt_robot_monitor`` convention). What each value means: :data:`COUNTER_MEANINGS` (also
in the README).

Accounting: ``frames_received = frames_malformed + frames_dropped + frames_processed +
frames_undecodable + inference_errors + frames_pending``.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

#: Seconds without an input image after which the status turns WARN.
STALE_INPUT_S = 5.0
#: Processing latencies kept for the percentiles.
LATENCY_WINDOW = 200

#: ``/diagnostics`` counter -> what it counts (and what it cannot see). The README's table.
COUNTER_MEANINGS: dict[str, str] = {
    "frames_received": "image messages that reached the node's image callback",
    "frames_lost_before_callback": "image messages a publisher sent that never reached the callback: gaps in "
                                   "each publisher's sequence numbers (replaced in the subscription's keep-last "
                                   "history while the executor was busy, or lost by best-effort transport); "
                                   "'n/a' where the middleware gives no sequence numbers (Humble; "
                                   "Jazzy's rmw_fastrtps_cpp reports none either); messages of a "
                                   "publisher after the last one received are not seen",
    "frames_malformed": "refused in the callback on arrival, before any decoding: unknown encoding or "
                        "compressed format, zero or too large declared size (max_input_pixels, decompression "
                        "bombs), wrong step, truncated or empty data, unreadable JPEG/PNG header",
    "frames_dropped": "well-formed frames replaced in the newest-frame slot by a newer one before the worker "
                      "took them (the node was busy)",
    "frames_undecodable": "frames that passed the arrival checks but whose data did not decode (a corrupt "
                          "JPEG/PNG body)",
    "frames_processed": "frames decoded, reconstructed and published on hands/meshes",
    "inference_errors": "frames decoded whose reconstruction or publishing raised (logged)",
    "frames_pending": "frames waiting in the slot or in progress now (0-2)",
    "camera_infos_received": "camera_info messages that reached the callback",
    "camera_infos_rejected": "camera_info messages ignored: no, invalid or implausible K for the image size "
                             "(the last good K, else default_hfov_deg, is used; logged once)",
}


@dataclasses.dataclass(frozen=True)
class StatsSnapshot:
    """Counters since start plus rates and latency percentiles (ms) of the recent window."""

    received: int
    processed: int
    dropped: int
    malformed: int
    errors: int
    pending: int
    undecodable: int
    lost_before_callback: int | None  # None: the middleware gives no sequence numbers
    camera_infos_received: int
    camera_infos_rejected: int
    input_rate_hz: float
    output_rate_hz: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    last_hands: int
    seconds_since_input: float


class NodeStats:
    """Thread-safe counters of the node (all methods may be called from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.received = self.processed = self.malformed = self.errors = self.undecodable = 0
        self.camera_infos_received = self.camera_infos_rejected = 0
        self.lost_before_callback: int | None = None
        self.last_hands = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self._last_input = None
        self._rate_mark = (time.monotonic(), 0, 0)  # (time, received, processed)
        self._rates = (0.0, 0.0)

    def on_received(self) -> None:
        """An image arrived (well-formed or not)."""
        with self._lock:
            self.received += 1
            self._last_input = time.monotonic()

    def on_malformed(self) -> None:
        """An image was refused on arrival (its header fields, declared size or format)."""
        with self._lock:
            self.malformed += 1

    def on_undecodable(self) -> None:
        """An image that passed the arrival checks did not decode."""
        with self._lock:
            self.undecodable += 1

    def on_lost(self, count: int) -> None:
        """``count`` (>= 0) messages were sent by a publisher but never reached the callback."""
        with self._lock:
            self.lost_before_callback = (self.lost_before_callback or 0) + int(count)

    def on_camera_info(self, rejected: bool) -> None:
        """A camera_info arrived; ``rejected`` when its K is not used."""
        with self._lock:
            self.camera_infos_received += 1
            self.camera_infos_rejected += int(rejected)

    def on_camera_info_rejected(self) -> None:
        """A camera_info accepted on arrival proved implausible for the image it was used with."""
        with self._lock:
            self.camera_infos_rejected += 1

    def on_error(self) -> None:
        """Inference or publishing raised on a decoded image."""
        with self._lock:
            self.errors += 1

    def on_processed(self, latency_s: float, hands: int) -> None:
        """A result was published ``latency_s`` seconds after its image arrived."""
        with self._lock:
            self.processed += 1
            self.last_hands = int(hands)
            self._latencies.append(float(latency_s) * 1000.0)

    def snapshot(self, dropped: int, pending: int) -> StatsSnapshot:
        """Current figures; rates are measured since the previous snapshot."""
        now = time.monotonic()
        with self._lock:
            t0, r0, p0 = self._rate_mark
            if now - t0 > 1e-3:
                self._rates = ((self.received - r0) / (now - t0), (self.processed - p0) / (now - t0))
                self._rate_mark = (now, self.received, self.processed)
            lat = np.asarray(self._latencies) if self._latencies else np.zeros(1)
            return StatsSnapshot(
                received=self.received, processed=self.processed, dropped=int(dropped),
                malformed=self.malformed, errors=self.errors, pending=int(pending), undecodable=self.undecodable,
                lost_before_callback=self.lost_before_callback, camera_infos_received=self.camera_infos_received,
                camera_infos_rejected=self.camera_infos_rejected,
                input_rate_hz=self._rates[0], output_rate_hz=self._rates[1],
                latency_p50_ms=float(np.percentile(lat, 50)), latency_p95_ms=float(np.percentile(lat, 95)),
                latency_max_ms=float(lat.max()), last_hands=self.last_hands,
                seconds_since_input=float("inf") if self._last_input is None else now - self._last_input,
            )


def diagnostic_array(
    stats: StatsSnapshot,
    *,
    name: str,
    hardware_id: str,
    info: dict[str, str],
    header: Header,
    previous: StatsSnapshot | None = None,
) -> DiagnosticArray:
    """One ``DiagnosticStatus`` describing the node.

    Level: WARN when no image arrived for :data:`STALE_INPUT_S` seconds, or when images
    were malformed or inference failed since ``previous``; OK otherwise. ``info`` adds
    fixed key/values (backend, device, hand model, intrinsics source, ...).
    """
    level, message = DiagnosticStatus.OK, "ok"
    if stats.received == 0:
        level, message = DiagnosticStatus.WARN, "no image received yet"
    elif stats.seconds_since_input > STALE_INPUT_S:
        level, message = DiagnosticStatus.WARN, f"no image for {stats.seconds_since_input:.0f} s"
    new_bad = (stats.malformed + stats.undecodable) - ((previous.malformed + previous.undecodable) if previous else 0)
    new_err = stats.errors - (previous.errors if previous else 0)
    if new_err > 0:
        level, message = DiagnosticStatus.WARN, f"{new_err} inference error(s) since last report"
    elif new_bad > 0:
        level, message = DiagnosticStatus.WARN, f"{new_bad} malformed image(s) since last report"
    values = {
        **info,
        "frames_received": str(stats.received),
        "frames_lost_before_callback": "n/a" if stats.lost_before_callback is None else str(stats.lost_before_callback),
        "frames_processed": str(stats.processed),
        "frames_dropped": str(stats.dropped),
        "frames_malformed": str(stats.malformed),
        "frames_undecodable": str(stats.undecodable),
        "inference_errors": str(stats.errors),
        "frames_pending": str(stats.pending),
        "camera_infos_received": str(stats.camera_infos_received),
        "camera_infos_rejected": str(stats.camera_infos_rejected),
        "input_rate_hz": f"{stats.input_rate_hz:.2f}",
        "output_rate_hz": f"{stats.output_rate_hz:.2f}",
        "latency_p50_ms": f"{stats.latency_p50_ms:.1f}",
        "latency_p95_ms": f"{stats.latency_p95_ms:.1f}",
        "latency_max_ms": f"{stats.latency_max_ms:.1f}",
        "hands_last_frame": str(stats.last_hands),
    }
    status = DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
    return DiagnosticArray(header=header, status=[status])


def diagnostic_values(array: DiagnosticArray, name: str) -> dict[str, str] | None:
    """``{key: value}`` of the status called ``name`` in ``array``, or None."""
    for status in array.status:
        if status.name == name:
            return {kv.key: kv.value for kv in status.values}
    return None
