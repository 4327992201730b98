"""Full ``ros2msg`` message definitions, as ``ros2 bag`` stores them in MCAP schemas.

An MCAP schema of encoding ``ros2msg`` holds the type's ``.msg`` text followed by every
message type it depends on, each introduced by a line of 80 ``=`` and ``MSG: pkg/Type``
(the layout of the MCAP ``ros2`` profile and of rosbag2's MCAP storage plugin, which
appends dependencies depth-first, in sorted order, each once). Readers (Foxglove,
``mcap_ros2``, ``ros2 bag``) parse this text to decode the CDR payloads.

The ``.msg`` files are found through the ament index (``share/<pkg>/msg/<Type>.msg``),
falling back to ``<sys.prefix>/share`` where the PyPI ROS wheels install them.
"""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

#: Built-in field types of the ROS 2 interface definition language.
PRIMITIVE_TYPES = frozenset({
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring",
})
SEPARATOR = "=" * 80

_TYPE_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)/(?:msg/)?([A-Za-z][A-Za-z0-9_]*)$")


def _split(type_name: str) -> tuple[str, str]:
    m = _TYPE_NAME.match(type_name)
    if m is None:
        raise ValueError(f"not a message type name (pkg/msg/Type or pkg/Type): {type_name!r}")
    return m.group(1), m.group(2)


def msg_file(type_name: str) -> Path:
    """Path of the ``.msg`` file of ``type_name`` (``pkg/msg/Type`` or ``pkg/Type``).

    Raises ``FileNotFoundError`` when neither the ament index nor ``sys.prefix/share``
    has it.
    """
    package, name = _split(type_name)
    candidates = []
    try:
        candidates.append(Path(get_package_share_directory(package)) / "msg" / f"{name}.msg")
    except (PackageNotFoundError, LookupError, ValueError):
        pass
    candidates.append(Path(sys.prefix) / "share" / package / "msg" / f"{name}.msg")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no .msg file for {type_name} (looked in {', '.join(map(str, candidates))})")


def field_types(text: str, package: str) -> list[str]:
    """Non-primitive field types (``pkg/Type``) used in a ``.msg`` text, sorted, unique.

    Comments and constants are ignored; array suffixes (``[]``, ``[N]``, ``[<=N]``) and
    string bounds (``string<=N``) are stripped; a type without a package is in ``package``.
    """
    out = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        type_token = line.split()[0]
        base = re.sub(r"\[.*\]$", "", type_token)
        base = re.sub(r"<=\d+$", "", base)
        if base in PRIMITIVE_TYPES:
            continue
        out.add(base if "/" in base else f"{package}/{base}")
    return sorted(out)


@functools.lru_cache(maxsize=None)
def full_definition(type_name: str) -> str:
    """The ``ros2msg`` schema text of ``type_name`` (e.g. ``"sensor_msgs/msg/Image"``).

    Raises ``FileNotFoundError`` when a ``.msg`` file (of the type or a dependency) is
    missing, ``ValueError`` for a malformed type name.
    """
    seen: set[str] = set()

    def expand(name: str) -> str:
        package, _ = _split(name)
        text = msg_file(name).read_text()
        parts = [text]
        for dep in field_types(text, package):
            if dep in seen:
                continue
            seen.add(dep)
            parts.append(f"\n{SEPARATOR}\nMSG: {dep}\n" + expand(dep))
        return "".join(parts)

    return expand(type_name)


def type_name_of(msg_class: type) -> str:
    """``"pkg/msg/Type"`` of a generated rclpy message class (e.g. ``sensor_msgs/msg/Image``)."""
    package = msg_class.__module__.split(".")[0]
    return f"{package}/msg/{msg_class.__name__}"
