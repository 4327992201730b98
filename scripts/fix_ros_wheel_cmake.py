"""Rewrite the build-machine include paths baked into the ROS 2 PyPI wheels' CMake exports.

The ``ros-*`` wheels export CMake targets (``share/*/cmake/*Export.cmake``) whose
``INTERFACE_INCLUDE_DIRECTORIES`` name two folders of the machine that built them
(``/opt/python/cp311-cp311/include/python3.11`` and that machine's numpy include folder).
CMake then refuses to generate a build for ``rosidl_generate_interfaces`` ("Imported target
... includes non-existent path"). This script points them at this interpreter's include
folder and this numpy's include folder. It is idempotent and must run after every fresh
install of the wheels (it edits installed files). Source: ``shared/notes/ros2-from-pypi.md``.

Usage: ``python fix_ros_wheel_cmake.py VENV`` (run with the venv's interpreter).
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


def fix_exports(prefix: Path) -> int:
    """Rewrite every ``*.cmake`` file under ``prefix/share``; returns the number changed."""
    py_include = sysconfig.get_paths()["include"]
    np_include = numpy.get_include()
    changed = 0
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        new = _NUMPY_INCLUDE.sub(np_include, _PY_INCLUDE.sub(py_include, text))
        if new != text:
            path.write_text(new)
            changed += 1
    return changed


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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
