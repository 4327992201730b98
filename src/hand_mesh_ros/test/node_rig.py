"""The hand_mesh_node test rig: the node under test with an image / camera_info publisher
and collectors of everything it publishes, over real DDS (shared by the node tests)."""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from hand_mesh_msgs.msg import HandMeshArray
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from visualization_msgs.msg import MarkerArray

from hand_mesh_ros.camera_info import camera_info_msg
from hand_mesh_ros.diagnostics import diagnostic_values
from hand_mesh_ros.hand_mesh_node import NODE_NAME, HandMeshNode
from ros_test_helpers import RELIABLE, Collector, spin_until

IMAGE, INFO = "/t/image", "/t/camera_info"
DIAG_NAME = f"{NODE_NAME}: hand reconstruction"

class Rig:
    """The node under test, a publisher of images / camera_info, and collectors."""

    def __init__(self, ctx, compressed: bool = False, publisher_qos=RELIABLE, **params) -> None:
        params.setdefault("diagnostics_period", 0.2)
        self.node = HandMeshNode(
            context=ctx, parameter_overrides=[Parameter("compressed_input", value=compressed)]
            + [Parameter(k, value=v) for k, v in params.items()],
            cli_args=["--ros-args", "-r", f"image:={IMAGE}", "-r", f"camera_info:={INFO}"])
        self.client = Node("test_client", context=ctx)
        self.image_pub = self.client.create_publisher(CompressedImage if compressed else Image, IMAGE, publisher_qos)
        self.info_pub = self.client.create_publisher(CameraInfo, INFO, RELIABLE)
        self.out = Collector({"/hands/meshes": HandMeshArray, "/hands/markers": MarkerArray,
                              "/hands/debug_image": Image, "/diagnostics": DiagnosticArray, "/rosout": Log}, ctx)
        self.executor = SingleThreadedExecutor(context=ctx)
        for n in (self.node, self.client, self.out):
            self.executor.add_node(n)
        assert spin_until(self.executor, lambda: self.image_pub.get_subscription_count() >= 1
                          and self.out.messages["/diagnostics"], 20), "node not discovered"
        self._stamp = 1000

    @property
    def meshes(self) -> list[HandMeshArray]:
        return self.out.messages["/hands/meshes"]

    def send(self, msg, K: np.ndarray | None = None, expect_result: bool = True) -> HandMeshArray | None:
        """Publish ``msg`` (stamped here) and, if asked, wait for its HandMeshArray."""
        self._stamp += 1
        msg.header.stamp.sec = self._stamp
        msg.header.frame_id = "test_optical_frame"
        if K is not None:
            info = camera_info_msg(K, msg.width, msg.height)
            info.header = msg.header
            self.info_pub.publish(info)
            assert spin_until(self.executor, lambda: self.node._camera_infos.latest is not None
                              and self.node._camera_infos.latest.header.stamp == info.header.stamp, 5)
        n, received = len(self.meshes), self.node.stats.received
        self.image_pub.publish(msg)
        if not expect_result:  # wait until the node took it (its reader keeps only the last 2)
            assert spin_until(self.executor, lambda: self.node.stats.received > received, 10)
            return None
        assert spin_until(self.executor, lambda: len(self.meshes) > n, 30), "no HandMeshArray"
        return self.meshes[-1]

    def diagnostics(self) -> dict[str, str]:
        """Values of a /diagnostics report taken after the node's worker finished its last frame.

        The worker publishes a result before it counts it, so a report snapshotted in between
        lags by one frame: wait until the worker is idle, then skip the report that may have
        been in flight and return the next one.
        """
        assert spin_until(self.executor, lambda: self.node.idle, 10)
        n = len(self.out.messages["/diagnostics"])
        assert spin_until(self.executor, lambda: len(self.out.messages["/diagnostics"]) > n + 1, 5)
        return diagnostic_values(self.out.messages["/diagnostics"][-1], DIAG_NAME)

    def warnings(self, text: str) -> list[str]:
        return [m.msg for m in self.out.messages["/rosout"]
                if m.name == NODE_NAME and m.level == Log.WARN and text in m.msg]

    def close(self) -> None:
        self.executor.shutdown()
        for n in (self.node, self.client, self.out):
            n.destroy_node()


@pytest.fixture()
def rig_factory(ros_context):
    """Factory of :class:`Rig` objects (keyword arguments are node parameters); all closed
    at the end of the test."""
    rigs = []

    def make(**kwargs) -> Rig:
        rigs.append(Rig(ros_context, **kwargs))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()
