"""scripts/setup_env.sh and scripts/fix_ros_wheel_cmake.py: clear failures, correct rewrites,
one ROS 2 distribution per venv, recorded and reported by `hand-mesh info`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
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


def _run_setup(tmp_path: Path, missing: set[str], **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ROS_DISTRO", "VIRTUAL_ENV", "HAND_MESH_ROS_DISTRO")}
    env["PATH"] = _path_without(tmp_path, missing)
    env["HAND_MESH_VENV"] = str(tmp_path / "venv")  # never touch the real .venv
    env.update(extra_env)
    return subprocess.run([shutil.which("bash"), str(SETUP)], env=env, capture_output=True,
                          text=True, timeout=120)


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


def test_setup_refuses_an_unknown_distribution(tmp_path):
    out = _run_setup(tmp_path, set(), HAND_MESH_ROS_DISTRO="humble")
    assert out.returncode != 0
    assert "HAND_MESH_ROS_DISTRO=humble" in out.stderr and "jazzy (default) and kilted" in out.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.slow
def test_setup_rebuilds_a_venv_that_holds_another_distribution(tmp_path):
    """One venv holds one distribution: asking for Jazzy in a Kilted venv starts afresh.

    pip is given no index (PIP_NO_INDEX, no config), so the run stops at the first install,
    after the venv was rebuilt and its record rewritten, and leaves no stamp.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "hand_mesh_ros_distro").write_text("kilted pypi\n")
    (venv / "left_by_kilted").write_text("x")
    out = _run_setup(tmp_path, set(), HAND_MESH_ROS_DISTRO="jazzy", PIP_NO_INDEX="1",
                     PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="")
    assert "holds kilted pypi, not jazzy pypi: rebuilding it" in out.stdout, out.stdout + out.stderr
    assert not (venv / "left_by_kilted").exists()
    assert (venv / "hand_mesh_ros_distro").read_text().strip() == "jazzy pypi"
    assert out.returncode != 0 and not (venv / ".hand_mesh_setup_stamp").exists()


FIX_SCRIPT = REPO / "scripts" / "fix_ros_wheel_cmake.py"


def _run_fix(prefix: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FIX_SCRIPT), str(prefix)], capture_output=True, text=True)


# numpy's include folder of the build machine: numpy 2 (_core, the Kilted and Jazzy wheels
# as released) and numpy 1 (core)
@pytest.mark.parametrize("numpy_core", ["_core", "core"])
def test_cmake_export_rewrite(tmp_path, numpy_core):
    """The build-machine include folders are replaced by this machine's; idempotent."""
    cmake_dir = tmp_path / "share" / "std_msgs" / "cmake"
    cmake_dir.mkdir(parents=True)
    export = cmake_dir / "export_std_msgs__rosidl_generator_pyExport.cmake"  # as in the Jazzy wheel
    export.write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        f'/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/{numpy_core}/include;'
        '${_IMPORT_PREFIX}/include"\n'
    )
    for expected in ("rewrote 1", "rewrote 0"):  # second run changes nothing
        out = _run_fix(tmp_path)
        assert out.returncode == 0 and expected in out.stdout, out.stdout + out.stderr
    text = export.read_text()
    assert "/opt/python" not in text
    assert sysconfig.get_paths()["include"] in text and numpy.get_include() in text
    assert "${_IMPORT_PREFIX}/include" in text


def test_cmake_export_check_names_a_build_folder_it_does_not_know(tmp_path):
    """A missing absolute include folder the rewrite does not cover fails with its name."""
    cmake_dir = tmp_path / "share" / "some_msgs" / "cmake"
    cmake_dir.mkdir(parents=True)
    (cmake_dir / "some_msgsExport.cmake").write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "/__w/builder/include;${_IMPORT_PREFIX}/include"\n')
    out = _run_fix(tmp_path)
    assert out.returncode == 1
    assert "some_msgsExport.cmake still names the missing include folder /__w/builder/include" in out.stderr


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


def _distribution_of_this_venv() -> tuple[str, str]:
    """``(distribution, source)`` from the record setup_env.sh wrote into the running venv."""
    record = Path(sys.prefix) / "hand_mesh_ros_distro"
    if not record.is_file():
        pytest.skip(f"no {record}: this interpreter is not a venv made by scripts/setup_env.sh")
    distro, source = record.read_text().split()
    return distro, source


@pytest.mark.slow
def test_venv_records_its_distribution_and_holds_it():
    """The record matches the rclpy the venv holds (the pin of that distribution's
    constraints file) and `hand-mesh info` prints both."""
    import importlib.metadata

    distro, source = _distribution_of_this_venv()
    if source != "pypi":
        pytest.skip(f"ROS 2 {distro} is sourced, not installed from PyPI")
    assert distro in ("jazzy", "kilted")
    pins = dict(line.strip().split("==") for line in
                (REPO / "requirements" / f"constraints-{distro}.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    wheel = importlib.metadata.version("ros-rclpy")
    assert wheel == pins["ros-rclpy"], f"venv recorded as {distro} holds ros-rclpy {wheel}"
    if distro == "jazzy":
        assert importlib.metadata.version("ros-jazzy-rclpy") == wheel
    out = subprocess.run([sys.executable, "-m", "hand_mesh_core.cli", "info"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = {line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip()
             for line in out.stdout.splitlines() if "  " in line}
    assert lines["ros distribution"].startswith(f"{distro} pypi (recorded in {sys.prefix}"), out.stdout
    assert lines["rclpy"].endswith(f"wheel ros-rclpy {wheel}"), out.stdout
