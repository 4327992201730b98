"""The hand model's contact sheet and its CLI verb ``hand-mesh hand-model sheet``."""

from __future__ import annotations

import cv2
import numpy as np
from typer.testing import CliRunner

from hand_mesh_core.bench.hand_model_sheet import SHEET_POSES, SHEET_SHAPES, render_model_sheet
from hand_mesh_core.cli import app
from hand_mesh_core.viz import HAND_COLORS

CELL = 96
PAD = 4  # contact_sheet's default


def _cell(sheet: np.ndarray, row: int, col: int) -> np.ndarray:
    y, x = PAD + row * (CELL + PAD), PAD + col * (CELL + PAD)
    return sheet[y + 24: y + CELL, x: x + CELL]  # below the label


def test_sheet_shows_both_hands_in_every_pose_and_shape():
    sheet = render_model_sheet(cell=CELL)
    rows = 2 * len(SHEET_SHAPES)
    assert sheet.shape == (rows * (CELL + PAD) + PAD, len(SHEET_POSES) * (CELL + PAD) + PAD, 3)
    areas = {}
    for r in range(rows):
        side = "right" if r < len(SHEET_SHAPES) else "left"
        color = np.array(HAND_COLORS[side], dtype=float)
        for c in range(len(SHEET_POSES)):
            px = _cell(sheet, r, c).reshape(-1, 3).astype(float)
            cos = px @ color / (np.linalg.norm(px, axis=1) * np.linalg.norm(color) + 1e-9)
            mesh = (cos > 0.98) & (px.sum(1) < 700)  # shaded mesh colour, not the light background
            assert mesh.sum() > 150, (side, r, c)
            areas[(r, c)] = int(mesh.sum())
    # the child's hands (shape row 1) look smaller than the mean ones (row 0), the large ones bigger
    flat = SHEET_POSES.index("flat")
    assert areas[(1, flat)] < areas[(0, flat)] < areas[(2, flat)]
    # the left rows are the mirror image of the right rows (same areas within rasterisation noise)
    assert abs(areas[(3, flat)] - areas[(0, flat)]) < 0.05 * areas[(0, flat)]


def test_cli_writes_the_sheet_png(tmp_path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["hand-model", "sheet", "--out", str(out), "--cell", "64"])
    assert result.exit_code == 0, result.output
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] == len(SHEET_POSES) * (64 + PAD) + PAD
