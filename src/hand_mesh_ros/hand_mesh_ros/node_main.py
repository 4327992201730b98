"""The ``main()`` of this package's node executables: init, spin, clean shutdown, exit codes.

A node that refuses its parameters or files at start (:data:`STARTUP_ERRORS`) prints the
reason on stderr in one line and exits with status 2, rather than with a traceback; SIGINT
(Ctrl-C), SIGTERM and an external shutdown (``ros2 launch`` stopping it) exit with 0.

Shutdown order: rclpy's own signal handler is not installed (``SignalHandlerOptions.NO``),
because it shuts the context down from its own thread the moment the signal arrives, while
the node's worker thread may still be publishing and the executor taking a message (the
fault campaign of issue 15 saw ``RCLError: publisher's context is invalid`` at nearly every
SIGINT during a flood, a SIGSEGV in ``librcl`` and a ``RuntimeError`` from
``take_message``). Instead SIGINT / SIGTERM set a :class:`threading.Event` that ``spin``
polls; then, on the main thread and in this order, the node is destroyed (its
``destroy_node`` stops and joins its threads first) and the context shut down. Errors raised
by rclpy once the shutdown has begun are expected, not failures: they do not change the
exit status.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

try:
    from rclpy.signals import SignalHandlerOptions
except ImportError:  # pragma: no cover - very old rclpy
    SignalHandlerOptions = None

#: Exceptions that mean "refused to start" (bad parameter, missing or corrupt file): exit status 2.
#: ``hand_mesh_core.model_files.ModelFileError`` is a ``ValueError``.
STARTUP_ERRORS = (ValueError, FileNotFoundError, InvalidParameterValueException, InvalidParameterTypeException)

#: Signals that ask the node to stop (Ctrl-C; what ``ros2 launch`` sends after SIGINT).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: How often (s) a spin loop should look at the stop event (the longest a stop waits).
STOP_POLL_S = 0.1


def one_line(exc: BaseException) -> str:
    """``str(exc)`` on one line (line breaks replaced by ``"; "``), the exception's type when empty."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


def _install_stop_handlers(stop: threading.Event, starting: threading.Event) -> dict:
    """Make :data:`STOP_SIGNALS` set ``stop``; returns the previous handlers (main thread only).

    A second signal while ``starting`` is set (the node is still being built, e.g. loading
    models) raises ``KeyboardInterrupt`` there, so a start can be abandoned; once the node
    runs, repeated signals only set ``stop`` again (an exception raised inside the orderly
    shutdown would skip the worker's join)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(*_) -> None:
        if stop.is_set() and starting.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {}
    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    return previous


def run_node(name: str, make_node: Callable[[], Node], spin: Callable[[Node, threading.Event], None],
             args: list[str] | None = None) -> int:
    """Initialise rclpy with ``args``, build the node with ``make_node`` and ``spin`` it.

    Args:
        name: the executable's name, prefixed to the error message.
        make_node: builds the node (after ``rclpy.init``).
        spin: ``spin(node, stop)`` runs the node until it is done or ``stop`` (a
            ``threading.Event``, set by SIGINT / SIGTERM) is set; it should look at ``stop``
            at least every :data:`STOP_POLL_S` seconds.
        args: command-line arguments for ``rclpy.init`` (None = ``sys.argv``).

    Returns the process exit status: 0 when done or stopped (errors raised while stopping
    included), 2 when a :data:`STARTUP_ERRORS` exception was raised (one line on stderr:
    ``"<name>: <reason>"``). The node is destroyed before rclpy is shut down, in every case.
    Other exceptions while running propagate (a real bug: traceback, status 1).
    """
    stop, starting = threading.Event(), threading.Event()
    init_options = {} if SignalHandlerOptions is None else {"signal_handler_options": SignalHandlerOptions.NO}
    rclpy.init(args=args, **init_options)
    previous = _install_stop_handlers(stop, starting)
    node = None
    try:
        starting.set()
        node = make_node()
        starting.clear()
        spin(node, stop)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except STARTUP_ERRORS as exc:
        if node is None:
            print(f"{name}: {one_line(exc)}", file=sys.stderr)
            return 2
        if stop.is_set():
            return 0
        raise
    except Exception:
        if stop.is_set():  # rclpy errors once the shutdown began (taking from a dying context)
            return 0
        raise
    finally:
        try:
            if node is not None:
                node.destroy_node()
        finally:
            rclpy.try_shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
