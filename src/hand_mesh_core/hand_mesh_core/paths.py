"""Where the project's files and the shared test data live.

``shared/data`` is the read-only folder of real images, video and annotated subsets that
sits beside the checkout (``<repo>/../shared/data``). Tests and benchmarks read it by
path; nothing is copied into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
CONFIGS_DIR = PACKAGE_DIR / "configs"

#: Environment variable that overrides the location of the shared data folder.
SHARED_DATA_ENV = "HAND_MESH_SHARED_DATA"


def find_repo_root(start: Path | None = None) -> Path | None:
    """Return the repository root (the folder holding ``src/hand_mesh_core``), or None.

    Works from the source tree and from a colcon ``install/`` or ``build/`` tree inside
    the repository (it walks up from ``start``, default this file and the working dir).
    """
    candidates = [start] if start is not None else [PACKAGE_DIR, Path.cwd()]
    for c in candidates:
        for p in [c, *c.resolve().parents]:
            if (p / "src" / "hand_mesh_core" / "setup.py").is_file():
                return p
    return None


def find_shared_data() -> Path | None:
    """Return ``shared/data`` beside the checkout (or ``$HAND_MESH_SHARED_DATA``), or None.

    Returns None, never raises, when the folder is absent: callers (tests, benchmarks)
    decide whether to skip with a reason or to fail.
    """
    env = os.environ.get(SHARED_DATA_ENV)
    if env:
        p = Path(env)
        return p if p.is_dir() else None
    root = find_repo_root()
    if root is None:
        return None
    p = root.parent / "shared" / "data"
    return p if p.is_dir() else None
