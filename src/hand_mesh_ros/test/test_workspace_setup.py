"""scripts/setup_env.sh and scripts/fix_ros_wheel_cmake.py: clear failures, correct rewrites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import sysconfig

REPO = Path(__file__).resolve().parents[3]
SETUP = REPO / "scripts" / "setup_env.sh"


def _path_without(tmp_path: Path, missing: set[str]) -> str:
    """A PATH holding links to every tool the setup may call, except those in `missing`."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "python3", "cmake", "make", "cc", "gcc", "c++", "g++", "cat",
                 "sha256sum", "cut", "rm", "dirname", "printf", "grep", "env"):
        found = shutil.which(tool)
        if found and tool not in missing:
            (bindir / tool).symlink_to(found)
    return str(bindir)


def _run_setup(tmp_path: Path, missing: set[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ROS_DISTRO", "VIRTUAL_ENV")}
    env["PATH"] = _path_without(tmp_path, missing)
    env["HAND_MESH_VENV"] = str(tmp_path / "venv")  # never touch the real .venv
    return subprocess.run([shutil.which("bash"), str(SETUP)], env=env, capture_output=True,
                          text=True, timeout=60)


def test_setup_names_missing_cmake(tmp_path):
    out = _run_setup(tmp_path, {"cmake"})
    assert out.returncode != 0
    assert "'cmake' not found" in out.stderr and "apt-get install cmake" in out.stderr
    assert not (tmp_path / "venv").exists(), "setup must stop before creating the venv"


def test_setup_names_missing_compilers(tmp_path):
    out = _run_setup(tmp_path, {"c++", "g++"})
    assert out.returncode != 0
    assert "C++ compiler" in out.stderr and "apt-get install g++" in out.stderr
    assert not (tmp_path / "venv").exists()


def test_cmake_export_rewrite(tmp_path):
    """The build-machine include folders are replaced by this machine's; idempotent."""
    cmake_dir = tmp_path / "share" / "some_msgs" / "cmake"
    cmake_dir.mkdir(parents=True)
    export = cmake_dir / "some_msgs__rosidl_generator_pyExport.cmake"
    export.write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include;${_IMPORT_PREFIX}/include"\n'
    )
    script = REPO / "scripts" / "fix_ros_wheel_cmake.py"
    for expected in ("rewrote 1", "rewrote 0"):  # second run changes nothing
        out = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
        assert out.returncode == 0 and expected in out.stdout, out.stdout + out.stderr
    text = export.read_text()
    assert "/opt/python" not in text
    assert sysconfig.get_paths()["include"] in text and numpy.get_include() in text
    assert "${_IMPORT_PREFIX}/include" in text


def test_venv_wheels_need_no_rewrite_after_setup():
    """After setup no exported CMake file of the ROS wheels names a missing build folder."""
    venv = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv"))
    if os.environ.get("ROS_DISTRO") and not (venv / "share" / "rclpy").exists():
        import pytest

        pytest.skip("ROS comes from a sourced distribution; the PyPI wheels are not used")
    files = list((venv / "share").glob("*/cmake/*.cmake"))
    assert files, f"no CMake exports under {venv}/share"
    offenders = [f.name for f in files if "/opt/python/cp" in f.read_text()]
    assert not offenders, offenders
