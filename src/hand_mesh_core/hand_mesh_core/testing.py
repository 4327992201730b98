"""pytest fixtures shared by the test suites of hand_mesh_core and hand_mesh_ros.

Import them into a ``conftest.py`` (``from hand_mesh_core.testing import shared_data``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hand_mesh_core.paths import find_shared_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; skips the test when it is absent."""
    path = find_shared_data()
    if path is None:
        pytest.skip("../shared/data not found beside the checkout (set HAND_MESH_SHARED_DATA)")
    return path
