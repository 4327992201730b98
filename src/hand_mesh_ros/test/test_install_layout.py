"""The colcon install tree has what `ros2 launch hand_mesh_ros demo.launch.py` and
`ros2 run hand_mesh_ros <node>` need, and the core library is importable without ROS."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

REPO = Path(__file__).resolve().parents[3]


def _console_scripts() -> list[str]:
    tree = ast.parse((REPO / "src/hand_mesh_ros/setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return [ast.literal_eval(e).split("=")[0].strip() for e in value.elts]
    raise AssertionError("no console_scripts in hand_mesh_ros/setup.py")


def test_launch_and_config_installed_into_share():
    share = Path(get_package_share_directory("hand_mesh_ros"))
    for src in sorted((REPO / "launch").glob("*.launch.py")):
        installed = share / "launch" / src.name
        assert installed.is_file(), f"{installed} missing"
        assert installed.read_bytes() == src.read_bytes()
    assert (share / "launch" / "demo.launch.py").is_file()
    for src in sorted(p for p in (REPO / "config").iterdir() if p.is_file()):
        installed = share / "config" / src.name
        assert installed.is_file(), f"{installed} missing"
    assert (share / "config" / "hand_mesh.yaml").is_file()
    assert (share / "package.xml").is_file()


def test_node_executables_installed_where_ros2_run_looks():
    lib = Path(get_package_prefix("hand_mesh_ros")) / "lib" / "hand_mesh_ros"
    for name in _console_scripts():
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing or not executable"


def test_all_three_packages_registered_in_ament_index():
    for pkg in ("hand_mesh_core", "hand_mesh_msgs", "hand_mesh_ros"):
        assert Path(get_package_share_directory(pkg), "package.xml").is_file()


def test_interfaces_generated():
    share = Path(get_package_share_directory("hand_mesh_msgs"))
    assert (share / "msg" / "HandMesh.msg").is_file()
    assert (share / "msg" / "HandMeshArray.msg").is_file()
    from hand_mesh_msgs.msg import HandMesh, HandMeshArray

    assert HandMesh.LEFT != HandMesh.RIGHT
    assert "hands" in HandMeshArray.get_fields_and_field_types()


@pytest.mark.slow
def test_core_cli_on_path_and_core_imports_without_ros():
    """`hand-mesh` is installed on PATH; hand_mesh_core never imports rclpy."""
    out = subprocess.run(["hand-mesh", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "info" in out.stdout
    # every import statement of every module (hand-mesh info names rclpy in text, reading its
    # version from package.xml, but must not import it)
    code = (
        "import ast, sys, importlib.util, pkgutil, hand_mesh_core\n"
        "mods = [m.name for m in pkgutil.walk_packages(hand_mesh_core.__path__, 'hand_mesh_core.')]\n"
        "def imported(m):\n"
        "    tree = ast.parse(open(importlib.util.find_spec(m).origin).read())\n"
        "    for n in ast.walk(tree):\n"
        "        if isinstance(n, ast.Import): yield from (a.name for a in n.names)\n"
        "        elif isinstance(n, ast.ImportFrom) and n.module and not n.level: yield n.module\n"
        "ros = ('rclpy', 'rcl_interfaces', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'hand_mesh_msgs')\n"
        "bad = sorted({f'{m}: {i}' for m in mods for i in imported(m) if i.split('.')[0] in ros})\n"
        "print(len(mods), bad); sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"ROS imports in hand_mesh_core: {out.stdout} {out.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("pkg_dir", ["src/hand_mesh_core", "src/hand_mesh_ros"])
def test_python_packages_build_as_plain_wheels(pkg_dir, tmp_path):
    """`pip install -e src/hand_mesh_core` works: the setup.py builds without colcon."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO / pkg_dir)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert list(tmp_path.glob("*.whl")), "no wheel built"
