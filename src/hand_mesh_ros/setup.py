"""hand_mesh_ros: ament_python package of the ROS 2 nodes.

Installs the workspace's top-level ``launch/*.launch.py`` and ``config/*`` into
``share/hand_mesh_ros/{launch,config}`` so that ``ros2 launch hand_mesh_ros demo.launch.py``
resolves on a machine with a full ROS 2.
"""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "hand_mesh_ros"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _rel(pattern: str) -> list[str]:
    """Files of the workspace root matching `pattern`, relative to this setup.py."""
    return sorted(str(Path(p).resolve().relative_to(REPO).as_posix()) for p in glob(str(REPO / pattern)))


def _from_root(paths: list[str]) -> list[str]:
    return [f"../../{p}" for p in paths]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _from_root(_rel("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", _from_root([p for p in _rel("config/*") if Path(REPO / p).is_file()])),
    ],
    install_requires=["setuptools"],
    # colcon picks pytest (not unittest) for `colcon test` from this test extra
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="ROS 2 nodes of hand_mesh.",
    license="MIT",
    entry_points={
        "console_scripts": [
            "hand_mesh_node = hand_mesh_ros.hand_mesh_node:main",
            "image_source = hand_mesh_ros.image_source:main",
            "demo = hand_mesh_ros.demo:main",
            "bench_latency = hand_mesh_ros.bench_latency:main",
            "bench_messages = hand_mesh_ros.bench_messages:main",
            "bench_flood = hand_mesh_ros.bench_flood:main",
            "bench_faults = hand_mesh_ros.bench_faults:main",
        ],
    },
)
