"""The ``main()`` of this package's node executables: init, spin, clean shutdown, exit codes.

A node that refuses its parameters or files at start (:data:`STARTUP_ERRORS`) prints the
reason on stderr and exits with status 2, rather than with a traceback; Ctrl-C and an
external shutdown (``ros2 launch`` stopping it) exit with 0.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

#: Exceptions that mean "refused to start" (bad parameter, missing file): exit status 2.
STARTUP_ERRORS = (ValueError, FileNotFoundError, InvalidParameterValueException, InvalidParameterTypeException)


def run_node(name: str, make_node: Callable[[], Node], spin: Callable[[Node], None],
             args: list[str] | None = None) -> int:
    """Initialise rclpy with ``args``, build the node with ``make_node`` and ``spin`` it.

    Args:
        name: the executable's name, prefixed to the error message.
        make_node: builds the node (after ``rclpy.init``).
        spin: runs the node until it is done or shut down.
        args: command-line arguments for ``rclpy.init`` (None = ``sys.argv``).

    Returns the process exit status: 0 when done or interrupted, 2 when a
    :data:`STARTUP_ERRORS` exception was raised (message on stderr). The node is destroyed
    and rclpy shut down in every case.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        spin(node)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except STARTUP_ERRORS as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
