"""Shared fixtures of hand_mesh_ros's tests: real rclpy, real DDS, isolated domain."""

from __future__ import annotations

import os
# A domain of our own per test session keeps concurrent runs on one machine apart.
# Must be set before rclpy creates its first context.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import pytest  # noqa: E402
import rclpy  # noqa: E402

from hand_mesh_core.testing import shared_data  # noqa: E402,F401  (fixture)
from node_rig import rig_factory  # noqa: E402,F401  (fixture)


@pytest.fixture()
def ros_context():
    """An initialised rclpy context for one test, shut down afterwards."""
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    if context.ok():
        rclpy.shutdown(context=context)
