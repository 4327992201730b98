"""``hand-mesh info``: versions, compute devices, the ROS 2 in use and the files the library would load."""

from __future__ import annotations

import typer

#: File in the venv (``sys.prefix``) where ``scripts/setup_env.sh`` records what it installed:
#: one line, ``"<distribution> pypi"`` (ROS 2 wheels from PyPI) or ``"<distribution> sourced"``.
ROS_DISTRO_RECORD = "hand_mesh_ros_distro"


def register(app: typer.Typer) -> None:
    app.command("info")(info)


def ros_environment() -> dict[str, str]:
    """Which ROS 2 this interpreter would use, without importing ROS.

    Returns:
        ``{"ros distribution": ..., "rclpy": ...}``. The distribution is the venv's record
        (``<sys.prefix>/hand_mesh_ros_distro``, written by ``scripts/setup_env.sh``), else
        ``$ROS_DISTRO`` (a sourced ROS), else ``"none"``. rclpy's version is read from the
        first ``share/rclpy/package.xml`` under ``sys.prefix`` (the PyPI wheels' prefix) or
        ``$AMENT_PREFIX_PATH`` (a sourced ROS), plus the ``ros-rclpy`` wheel's version
        when the wheels are installed (the wheel's release can be newer than the
        package.xml it carries: Jazzy's ``ros-rclpy`` 7.1.6 holds rclpy 7.1.5).
    """
    import importlib.metadata
    import os
    import sys
    import xml.etree.ElementTree as ET
    from pathlib import Path

    record = Path(sys.prefix) / ROS_DISTRO_RECORD
    if record.is_file():
        distro = f"{record.read_text().strip()} (recorded in {record})"
    elif os.environ.get("ROS_DISTRO"):
        distro = f"{os.environ['ROS_DISTRO']} ($ROS_DISTRO, no record in {sys.prefix})"
    else:
        distro = "none"
    prefixes = [sys.prefix, *filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))]
    rclpy = "not found"
    for prefix in prefixes:
        xml = Path(prefix) / "share" / "rclpy" / "package.xml"
        if xml.is_file():
            rclpy = f"{ET.parse(xml).getroot().findtext('version', 'unknown')} ({xml})"
            break
    try:
        rclpy += f", wheel ros-rclpy {importlib.metadata.version('ros-rclpy')}"
    except importlib.metadata.PackageNotFoundError:
        pass
    return {"ros distribution": distro, "rclpy": rclpy}


def info() -> None:
    """Print library version, torch build and device, the ROS 2 in use and the shared data location."""
    import platform

    import torch

    from hand_mesh_core import __version__
    from hand_mesh_core.paths import ASSETS_DIR, find_shared_data

    rows = {
        "hand_mesh_core": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda available": str(torch.cuda.is_available()),
        "cuda device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-",
        "cpu threads": str(torch.get_num_threads()),
        **ros_environment(),
        "assets": str(ASSETS_DIR),
        "shared data": str(find_shared_data() or "not found"),
    }
    width = max(map(len, rows))
    for k, v in rows.items():
        typer.echo(f"{k:<{width}}  {v}")
