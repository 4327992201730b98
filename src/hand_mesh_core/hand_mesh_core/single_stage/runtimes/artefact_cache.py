"""Where the runtimes keep the files they derive from a weights file, and how those are named.

An ONNX model exported from a weights file and a TensorRT engine built from that ONNX model
are both pure functions of their inputs, so they are written once into a cache folder and
found again by a content hash (SHA-256) of everything they depend on. A changed input gives
a new name, so a stale file is never used and nothing has to be invalidated by hand.

Cache folder: ``$HAND_MESH_CACHE`` if set, else ``$XDG_CACHE_HOME/hand_mesh``, else
``~/.cache/hand_mesh`` (the XDG Base Directory convention). Every runtime option that
writes a file also takes an explicit folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: Environment variable that overrides the cache folder.
CACHE_ENV = "HAND_MESH_CACHE"

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """The cache folder (see the module docstring); not created here."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "hand_mesh"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes. Raises ``FileNotFoundError`` for a missing file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(*parts: str) -> str:
    """Hex SHA-256 of text parts joined by NUL characters (a key of several fields)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` through ``write(tmp_path)`` and an atomic rename.

    Two processes filling the same cache entry at once both succeed and the entry is never
    seen half-written. The parent folder is created. Returns ``path``; an exception from
    ``write`` propagates and leaves no file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
