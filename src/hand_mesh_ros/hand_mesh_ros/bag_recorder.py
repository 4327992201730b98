"""Record ROS topics to a rosbag2-style MCAP bag with the ``mcap`` library (no ``ros2 bag``).

The bag is a folder like the one ``ros2 bag record -s mcap`` writes:

* ``<name>_0.mcap``: profile ``ros2``; one schema per message type (encoding ``ros2msg``,
  the full definition of :mod:`hand_mesh_ros.message_definitions`); one channel per topic
  (message encoding ``cdr``, metadata ``offered_qos_profiles`` as rosbag2 writes it);
  messages are the CDR bytes received through raw subscriptions (no re-serialisation),
  ``log_time`` = receive time, ``publish_time`` = the same (ns since the Unix epoch);
  zstd-compressed chunks.
* ``metadata.yaml``: rosbag2 bag information (version 5, the Humble format, which Jazzy
  and later read too), so ``ros2 bag info <folder>`` and ``ros2 bag play <folder>`` work.

Foxglove and ``mcap_ros2.reader`` open the ``.mcap`` file directly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml
from mcap.writer import CompressionType, Writer
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

from hand_mesh_ros.message_definitions import full_definition, type_name_of

#: Version of rosbag2's metadata.yaml written (Humble writes 5).
METADATA_VERSION = 5

#: Reliable keep-last 200: a recorder should not lose messages of a bursty publisher.
RECORD_QOS = QoSProfile(depth=200, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


def _duration(ns: int) -> dict[str, int]:
    return {"sec": int(ns // 1_000_000_000), "nsec": int(ns % 1_000_000_000)}


def qos_profiles_yaml(profiles: list[QoSProfile]) -> str:
    """``offered_qos_profiles`` text of rosbag2 (YAML list, policies as integers).

    The integer form is what Humble writes and reads; Jazzy and later detect it.
    """
    items = [
        {
            "history": int(q.history),
            "depth": int(q.depth),
            "reliability": int(q.reliability),
            "durability": int(q.durability),
            "deadline": _duration(q.deadline.nanoseconds),
            "lifespan": _duration(q.lifespan.nanoseconds),
            "liveliness": int(q.liveliness),
            "liveliness_lease_duration": _duration(q.liveliness_lease_duration.nanoseconds),
            "avoid_ros_namespace_conventions": bool(q.avoid_ros_namespace_conventions),
        }
        for q in profiles
    ]
    return yaml.safe_dump(items, sort_keys=False) if items else ""


class McapBagRecorder(Node):
    """Node that writes every message of ``topics`` to ``bag_dir``.

    Args:
        bag_dir: folder to create (must not exist, or be empty).
        topics: ``{topic name: message class}``.

    Call :meth:`close` to finish the file and write ``metadata.yaml``. Raises
    ``FileExistsError`` when ``bag_dir`` exists and is not empty.
    """

    def __init__(self, bag_dir: str | Path, topics: dict[str, type], node_name: str = "mcap_bag_recorder",
                 **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        self.bag_dir = Path(bag_dir)
        if self.bag_dir.exists() and any(self.bag_dir.iterdir()):
            raise FileExistsError(f"bag folder {self.bag_dir} exists and is not empty")
        self.bag_dir.mkdir(parents=True, exist_ok=True)
        self.mcap_path = self.bag_dir / f"{self.bag_dir.name}_0.mcap"
        self._stream = open(self.mcap_path, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="hand_mesh_ros bag_recorder (mcap python)")
        self._types = {topic: type_name_of(cls) for topic, cls in topics.items()}
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._qos: dict[str, str] = {}
        self.counts = dict.fromkeys(topics, 0)
        self._first_ns: int | None = None
        self._last_ns = 0
        self._closed = False
        self._lock = threading.Lock()  # callbacks vs close() from another thread
        for topic, cls in topics.items():
            self.create_subscription(cls, topic, self._callback(topic), RECORD_QOS, raw=True)

    def _channel(self, topic: str) -> int:
        channel = self._channels.get(topic)
        if channel is None:
            type_name = self._types[topic]
            schema = self._schemas.get(type_name)
            if schema is None:
                schema = self._writer.register_schema(type_name, "ros2msg", full_definition(type_name).encode())
                self._schemas[type_name] = schema
            infos = self.get_publishers_info_by_topic(topic)
            self._qos[topic] = qos_profiles_yaml([i.qos_profile for i in infos])
            channel = self._writer.register_channel(
                topic, "cdr", schema, metadata={"offered_qos_profiles": self._qos[topic]})
            self._channels[topic] = channel
        return channel

    def _callback(self, topic: str):
        def on_message(data: bytes) -> None:
            now = time.time_ns()
            with self._lock:
                if self._closed:
                    return
                channel = self._channel(topic)
                self.counts[topic] += 1
                self._writer.add_message(channel, log_time=now, data=data, publish_time=now,
                                         sequence=self.counts[topic])
                if self._first_ns is None:
                    self._first_ns = now
                self._last_ns = now
        return on_message

    @property
    def message_count(self) -> int:
        """Messages written so far, all topics."""
        return sum(self.counts.values())

    def close(self) -> Path:
        """Finish the MCAP file, write ``metadata.yaml``; returns the bag folder. Idempotent."""
        with self._lock:
            if self._closed:
                return self.bag_dir
            self._closed = True
            self._writer.finish()
            self._stream.close()
        start = self._first_ns or 0
        duration = max(self._last_ns - start, 0)
        name = self.mcap_path.name
        info = {
            "version": METADATA_VERSION,
            "storage_identifier": "mcap",
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": self.message_count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": topic,
                        "type": self._types[topic],
                        "serialization_format": "cdr",
                        "offered_qos_profiles": self._qos.get(topic, ""),
                    },
                    "message_count": count,
                }
                for topic, count in self.counts.items() if count
            ],
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [name],
            "files": [{
                "path": name,
                "starting_time": {"nanoseconds_since_epoch": start},
                "duration": {"nanoseconds": duration},
                "message_count": self.message_count,
            }],
        }
        with open(self.bag_dir / "metadata.yaml", "w") as f:
            yaml.safe_dump({"rosbag2_bagfile_information": info}, f, sort_keys=False)
        return self.bag_dir

    def destroy_node(self) -> None:
        """Close the bag (if not yet) and destroy the node."""
        self.close()
        super().destroy_node()
