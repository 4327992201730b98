"""Shared pytest fixtures of hand_mesh_core's tests."""

from hand_mesh_core.testing import shared_data  # noqa: F401  (fixture)
