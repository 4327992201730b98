"""The open default hand model: files, loading and (deterministic) saving.

The model files ``assets/hand_model/open_hand_{right,left}.npz`` are produced by
``build_open_model.py`` from the MIT-licensed WebXR generic hand (see ``PROVENANCE.md``
and ``LICENSE`` beside them). Each ``.npz`` holds the fields of :class:`HandModelData`
(float32 on disk, float64 once loaded) plus the WebXR joint positions it was rigged from.

The files are written by :func:`save_npz` with fixed zip timestamps and no compression,
so that the converter regenerates them byte for byte.
"""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import numpy as np

from hand_mesh_core.hand_model.model_data import SIDES, HandModelData
from hand_mesh_core.paths import ASSETS_DIR

OPEN_MODEL_DIR = ASSETS_DIR / "hand_model"
OPEN_MODEL_NAME = "open_hand_v1"
FORMAT_VERSION = 1

_ARRAY_FIELDS = ("v_template", "faces", "shapedirs", "j_regressor", "weights", "tip_vertex_ids",
                 "hands_mean", "uvs", "face_uvs", "joint_frames")


def open_model_path(side: str, folder: Path = OPEN_MODEL_DIR) -> Path:
    """Path of the open model file of ``side`` (``"right"`` or ``"left"``)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    return folder / f"open_hand_{side}.npz"


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an ``.npz`` that is identical byte for byte for equal input.

    ``numpy.savez`` stamps each member with the current time; here every member gets the
    zip epoch (1980-01-01) and is stored uncompressed (no dependence on the zlib version).
    Members are written in sorted name order.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[name], order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def to_arrays(data: HandModelData, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The on-disk arrays of ``data`` (float32 / int32 / unicode), plus ``extra`` ones."""
    out: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "name": np.array(data.name),
        "side": np.array(data.side),
        "shape_names": np.array(data.shape_names or ()),
    }
    for field in _ARRAY_FIELDS:
        value = getattr(data, field)
        if value is None:
            continue
        kind = np.int32 if np.issubdtype(value.dtype, np.integer) else np.float32
        out[field] = np.asarray(value, dtype=kind)
    out.update(extra or {})
    return out


@functools.lru_cache(maxsize=8)
def load_open_model(side: str = "right", path: Path | None = None) -> HandModelData:
    """Load the open model of ``side`` (cached; the arrays are shared, do not modify them).

    Args:
        side: ``"right"`` or ``"left"``.
        path: an ``.npz`` written by the converter; default the shipped file.

    Raises:
        FileNotFoundError: the file is missing (reinstall the package, or rebuild it with
            ``hand-mesh hand-model build``).
        ValueError: wrong side; :class:`~hand_mesh_core.model_files.ModelFileError` (a
            ``ValueError`` naming the file) for a corrupt file, a file of the other side, or
            an unsupported format version.
    """
    from hand_mesh_core.model_files import reading

    path = Path(path) if path is not None else open_model_path(side)
    if not path.is_file():
        raise FileNotFoundError(f"open hand model file not found: {path} "
                                "(rebuild it with `hand-mesh hand-model build`)")
    with reading(path, "open hand model file (npz)"), np.load(path, allow_pickle=False) as z:
        version = int(z["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"format version {version}, this library reads {FORMAT_VERSION}")
        if str(z["side"]) != side:
            raise ValueError(f"holds the {z['side']} hand, {side!r} was asked for")
        f64 = {k: z[k].astype(np.float64) for k in ("v_template", "shapedirs", "j_regressor",
                                                      "weights", "hands_mean", "uvs", "face_uvs",
                                                      "joint_frames")}
        data = HandModelData(
            name=str(z["name"]), side=side, faces=z["faces"].astype(np.int64),
            tip_vertex_ids=z["tip_vertex_ids"].astype(np.int64),
            shape_names=tuple(str(s) for s in z["shape_names"]), **f64,
        )
    for a in (data.v_template, data.faces, data.shapedirs, data.j_regressor, data.weights):
        a.setflags(write=False)
    return data
