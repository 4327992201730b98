"""Helpers shared by the ROS tests: spinning until a condition holds, collecting messages."""

from __future__ import annotations

import time
from collections.abc import Callable

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABLE = QoSProfile(depth=50, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def spin_until(executor: SingleThreadedExecutor, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``executor`` until ``condition()`` is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.02)
    return condition()


class Collector(Node):
    """Subscribes to topics and keeps every message received, per topic."""

    def __init__(self, topics: dict[str, type], context, name: str = "test_collector") -> None:
        super().__init__(name, context=context)
        self.messages: dict[str, list] = {t: [] for t in topics}
        for topic, cls in topics.items():
            self.create_subscription(cls, topic, self.messages[topic].append, RELIABLE)
