"""``hand_mesh_node`` as its own OS process, for tests and benchmarks that drive it from outside.

:class:`NodeProcess` starts ``python -m hand_mesh_ros.hand_mesh_node`` (the console script's
entry point) with parameters and remappings, keeps its stdout + stderr in a temporary file,
reads its resident memory from ``/proc/<pid>/status`` and stops it with SIGINT, timing the
exit. :func:`flood` publishes one image message at a fixed rate while spinning an executor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


class NodeProcess:
    """A running ``hand_mesh_node`` process.

    Args:
        params: node parameters (``-p name:=value``); values are written with ``str`` (bools
            as ``true`` / ``false``).
        remaps: ``{from: to}`` topic remappings (``-r from:=to``).
        env: extra environment variables.
    """

    def __init__(self, params: dict | None = None, remaps: dict | None = None, env: dict | None = None) -> None:
        cmd = [sys.executable, "-m", "hand_mesh_ros.hand_mesh_node", "--ros-args"]
        for k, v in (remaps or {}).items():
            cmd += ["-r", f"{k}:={v}"]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={str(v).lower() if isinstance(v, bool) else v}"]
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        """Resident memory (MiB) now; NaN once the process has ended."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return float("nan")

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr interleaved)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> tuple[int | None, float]:
        """Send ``sig`` and wait for the exit; returns ``(exit status, seconds to exit)``.

        The status is None when the process had to be killed after ``timeout`` seconds.
        """
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        return status, time.monotonic() - t0

    def close(self) -> None:
        """Kill the process if it still runs and drop its log."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def flood(executor, publish: Callable[[], None], rate_hz: float, seconds: float,
          every_second: Callable[[], None] | None = None) -> int:
    """Call ``publish()`` at ``rate_hz`` for ``seconds`` while spinning ``executor``.

    ``every_second`` (optional) is called once per elapsed second (e.g. to sample memory).
    Returns the number of messages published.
    """
    t0 = time.monotonic()
    sent = ticks = 0
    while (elapsed := time.monotonic() - t0) < seconds:
        if sent < elapsed * rate_hz:
            publish()
            sent += 1
        executor.spin_once(timeout_sec=0.002)
        if every_second is not None and ticks < elapsed:
            ticks += 1
            every_second()
    return sent


def stamp_now(header) -> None:
    """Set ``header.stamp`` to the wall-clock time now."""
    now = time.time()
    header.stamp.sec, header.stamp.nanosec = int(now), int((now % 1) * 1e9)
