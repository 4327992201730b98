"""Rewrite the build-machine include paths baked into the ROS 2 PyPI wheels' CMake exports.

The ``ros-*`` wheels export CMake targets (``share/*/cmake/*Export.cmake``) whose
``INTERFACE_INCLUDE_DIRECTORIES`` name two folders of the machine that built them
(``/opt/python/cp311-cp311/include/python3.11`` and that machine's numpy include folder,
``.../site-packages/numpy/_core/include``). CMake then refuses to generate a build for
``rosidl_generate_interfaces`` ("Imported target ... includes non-existent path"). This
script points them at this interpreter's include folder and this numpy's include folder.
It is idempotent and must run after every fresh install of the wheels (it edits installed
files). Source: ``shared/notes/ros2-from-pypi.md``.

Checked for both distributions the setup installs: the Kilted (``ros-*``) and the Jazzy
(``ros-jazzy-*``) wheels carry the same two folders, in 15 export files each for the
sets in ``requirements/ros-kilted.txt`` and ``ros-jazzy.txt``. Their other
``/opt/python/...`` strings are ament index ``parent_prefix_path`` entries, which CMake
never checks. After rewriting, every absolute folder left in an exported
``INTERFACE_INCLUDE_DIRECTORIES`` must exist: one that does not (a new wheel release with
another build path) is reported by name and the script exits 1, instead of CMake failing
later in ``colcon build``.

Usage: ``python fix_ros_wheel_cmake.py VENV`` (run with the venv's interpreter). Exit
status 0: done; 1: no ``VENV/share`` or an include folder still missing; 2: usage.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

# any manylinux build prefix: /opt/python/cpXY-cpXY/...
_PY_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/include/python\d+\.\d+")
_NUMPY_INCLUDE = re.compile(r"/opt/python/cp\d+-cp\d+/lib/python\d+\.\d+/site-packages/numpy/(?:_)?core/include")
_INCLUDE_DIRS = re.compile(r'INTERFACE_INCLUDE_DIRECTORIES\s+"([^"]*)"')


def _export_files(prefix: Path) -> list[Path]:
    return sorted((prefix / "share").glob("*/cmake/*.cmake"))


def fix_exports(prefix: Path) -> int:
    """Rewrite every ``*.cmake`` file under ``prefix/share``; returns the number changed."""
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    changed = 0
    for path in _export_files(prefix):
        text = path.read_text()
        new = _NUMPY_INCLUDE.sub(np_include, _PY_INCLUDE.sub(py_include, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


def missing_include_dirs(prefix: Path) -> list[tuple[str, str]]:
    """``(export file name, folder)`` for every absolute include folder that does not exist.

    Folders relative to the export (``${_IMPORT_PREFIX}/...``, other CMake variables and
    generator expressions) are not checked: CMake resolves them inside the prefix.
    """
    missing = []
    for path in _export_files(prefix):
        for value in _INCLUDE_DIRS.findall(path.read_text()):
            for folder in value.split(";"):
                if folder.startswith("/") and "$" not in folder and not Path(folder).is_dir():
                    missing.append((path.name, folder))
    return missing


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    prefix = Path(argv[1])
    if not (prefix / "share").is_dir():
        print(f"fix_ros_wheel_cmake: {prefix}/share does not exist", file=sys.stderr)
        return 1
    n = fix_exports(prefix)
    print(f"fix_ros_wheel_cmake: rewrote {n} CMake export file(s) under {prefix}/share")
    missing = missing_include_dirs(prefix)
    for name, folder in missing:
        print(f"fix_ros_wheel_cmake: {name} still names the missing include folder {folder}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
