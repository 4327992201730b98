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


#: Configuration of :func:`tiny_single_stage_weights`: a ResNet-18 of width 8 at a 64-pixel
#: input (about 0.1 s per image on a CPU core).
TINY_SINGLE_STAGE_CONFIG = {
    "model": {"input_size": 64, "backbone": {"name": "resnet18", "options": {"width": 8}},
              "neck": {"channels": 16, "lateral_channels": 8}, "heads": {"hidden": 16, "appearance": False}},
}


def tiny_single_stage_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a small single-stage network with seeded random weights to ``path`` and return it.

    For tests of plumbing (options, runtimes, nodes, benchmarks) whose behaviour does not
    depend on training: the network runs end to end and its decoded hands are reproducible
    for a given ``seed``, but they are not real hands. ``path``: a ``.safetensors`` file
    (:meth:`SingleStageNet.save`).
    """
    import torch

    from hand_mesh_core.network.model import SingleStageNet

    torch.manual_seed(seed)
    path = Path(path)
    SingleStageNet(TINY_SINGLE_STAGE_CONFIG).save(path)
    return path
