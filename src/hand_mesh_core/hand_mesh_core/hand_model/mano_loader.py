"""Load MANO's ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` without ``chumpy`` or ``smplx``.

MANO (Romero, Tzionas, Black, SIGGRAPH Asia 2017) is licence-restricted: users download it
themselves from https://mano.is.tue.mpg.de and give its path; it is never shipped. The
pickles were written by Python 2 and hold ``chumpy`` objects (``chumpy`` does not import
with numpy >= 1.24) and old ``scipy.sparse`` classes. This loader reads them with a
restricted unpickler that only accepts the classes such a file contains, maps each
``chumpy`` object to a plain array (``Ch`` holds its value in ``x``; the few reordering and
arithmetic nodes are evaluated) and rebuilds sparse matrices from their raw fields.

Corrections applied, as the field knows them (``shared/notes/hand-models.md``):

* the left file's ``shapedirs`` has a flipped x component: ``shapedirs[:, 0, :] *= -1``
  for the left hand (``fix_left_shapedirs=True``, the default);
* ``flat_hand_mean`` and PCA are options of :class:`~.model.HandModel`; the file's
  ``hands_mean`` and ``hands_components`` are passed through unchanged.

Fingertips: ``smplx``'s vertex ids ``[744, 320, 443, 554, 671]`` (thumb..pinky).

Against ``smplx.MANO`` (the layer MANO users trust; checked by
``test/test_mano_smplx_parity.py`` on the same MANO-format file, float64, both sides,
``flat_hand_mean`` on and off, PCA and full pose, non-zero betas: vertices, joints and
keypoints agree to 1e-8 m), in ``shared/notes/hand-models.md``'s terms:

* joints: both give MANO's 16 joints in MANO's order (0 wrist; 1-3 index; 4-6 middle;
  7-9 pinky; 10-12 ring; 13-15 thumb CMC, MCP, IP). ``smplx.MANO`` adds no fingertips
  (its vertex-joint selector is switched off for MANO); ``HandModel`` also returns
  ``keypoints [B, 21, 3]``: the 16 joints plus the tip vertices ``[744, 320, 443, 554, 671]``
  (thumb..pinky, ``smplx.vertex_ids['mano']``; manopth's ids are
  ``[745, 317, 444, 556, 673]``), in OpenPose / MediaPipe order (index map
  ``[0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]`` into
  "16 joints + 5 tips").
* left file: ``HandModel`` repairs ``MANO_LEFT.pkl``'s ``shapedirs`` x component; smplx
  does not (its users negate ``shapedirs[:, 0, :]`` of the left layer themselves).
* defaults: ``flat_hand_mean=True`` here (as manopth), ``False`` in smplx;
  ``use_pca=False`` here, ``True`` with 6 components in smplx; ``smplx.MANO(num_pca_comps=45)``
  silently turns PCA off, here ``use_pca=True, num_pca_comps=45`` decodes 45 components.
* numerics: smplx's Rodrigues adds 1e-8 rad to every rotation angle and uses the skinning
  weights as stored; ``HandModel`` renormalises each vertex's weights to sum to 1. Both
  differences stay below 1e-8 m on MANO-sized hands.
"""

from __future__ import annotations

import _compat_pickle
import functools
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from hand_mesh_core.hand_model.keypoints import MANO_PARENTS
from hand_mesh_core.hand_model.model_data import SIDES, HandModelData
from hand_mesh_core.model_files import ModelFileError, reading

MANO_URL = "https://mano.is.tue.mpg.de"
MANO_FILES = {"right": "MANO_RIGHT.pkl", "left": "MANO_LEFT.pkl"}
MANO_NUM_VERTICES = 778
#: Fingertip vertex ids of the 778-vertex MANO mesh (thumb, index, middle, ring, pinky), as in smplx.
SMPLX_TIP_IDS = (744, 320, 443, 554, 671)


def _missing(side: str, tried: list[Path]) -> FileNotFoundError:
    where = ", ".join(str(p) for p in tried) if tried else "no path (model_path=None and $HAND_MESH_MANO_DIR unset)"
    return FileNotFoundError(
        f"MANO model file {MANO_FILES[side]} not found; tried: {where}. MANO is licence-restricted "
        f"and not shipped with hand_mesh: register and download it from {MANO_URL} (\"Models & "
        "Code\"), then pass model_path=<the .pkl or its folder> or set HAND_MESH_MANO_DIR. "
        "Without MANO, use the open model (backend='open').")


def resolve_mano_path(model_path: str | os.PathLike | None, side: str) -> Path:
    """Find ``MANO_{SIDE}.pkl`` from a file or folder path.

    A folder is searched for the file itself, then in ``mano/`` and ``models/mano/`` below it
    (the layouts of the MANO download and of ``smplx``).

    Raises:
        ValueError: unknown side.
        FileNotFoundError: nothing found; the message gives the MANO website and every path
            tried.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if model_path is None:
        raise _missing(side, [])
    path = Path(model_path).expanduser()
    if path.suffix == ".pkl":
        if path.is_file():
            return path
        raise _missing(side, [path])
    tried = [path / sub / MANO_FILES[side] for sub in ("", "mano", "models/mano")]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise _missing(side, tried)


# --------------------------------------------------------------------------------------
# Unpickling


class _ChumpyObject:
    """Stand-in for any pickled ``chumpy`` object: keeps its state, evaluates to an array."""

    chumpy_class = "Ch"

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"x": state}

    def to_array(self) -> np.ndarray:
        s, kind = self.state, self.chumpy_class
        if "x" in s and kind in ("Ch", "Ch_"):
            return np.asarray(_value(s["x"]), dtype=np.float64)
        if kind == "Select":
            return _value(s["a"]).ravel()[np.asarray(s["idxs"])].reshape(s.get("preferred_shape", (-1,)))
        if kind == "Reshape":
            return _value(s["a"]).reshape(s["newshape"])
        if kind == "Transpose":
            return np.transpose(_value(s["a"]), s.get("axes"))
        ops = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}
        if kind in ops:
            return ops[kind](_value(s["a"]), _value(s["b"]))
        raise ValueError(f"cannot evaluate chumpy.{kind} objects (fields {sorted(s)}); "
                         "re-save the model with plain numpy arrays")


class _SparseMatrix:
    """Stand-in for a pickled ``scipy.sparse`` csc/csr/coo matrix (any scipy version)."""

    sparse_format = "csc"

    def __setstate__(self, state: dict) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        import scipy.sparse as sp

        s = self.state
        shape = tuple(s.get("_shape") or s.get("shape"))
        if self.sparse_format == "coo":
            rows = s.get("row", s.get("coords", (None, None))[0])
            cols = s.get("col", s.get("coords", (None, None))[1])
            return sp.coo_matrix((s["data"], (rows, cols)), shape=shape).toarray()
        make = sp.csc_matrix if self.sparse_format == "csc" else sp.csr_matrix
        return make((s["data"], s["indices"], s["indptr"]), shape=shape).toarray()


@functools.lru_cache(maxsize=None)
def _chumpy_class(name: str) -> type:
    return type(f"chumpy_{name}", (_ChumpyObject,), {"chumpy_class": name})


@functools.lru_cache(maxsize=None)
def _sparse_class(fmt: str) -> type:
    return type(f"sparse_{fmt}", (_SparseMatrix,), {"sparse_format": fmt})


_ALLOWED = {
    ("builtins", n) for n in ("object", "set", "frozenset", "dict", "list", "tuple", "slice",
                              "int", "float", "complex", "bool", "str", "bytes", "bytearray")
} | {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("_codecs", "encode"),
     ("collections", "OrderedDict"), ("numpy", "ndarray"), ("numpy", "dtype")}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric")


class _MANOUnpickler(pickle.Unpickler):
    """Unpickler accepting only what a MANO file holds (no arbitrary code execution)."""

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (__builtin__, copy_reg): the base class maps them only when
        # find_class is not overridden
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module.split(".")[0] == "chumpy":
            return _chumpy_class(name)
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return _sparse_class(name[:3])
        if (module, name) in _ALLOWED or (module in _NUMPY_MODULES and name in ("_reconstruct", "scalar")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a MANO file")


def _value(obj: Any) -> Any:
    if isinstance(obj, (_ChumpyObject, _SparseMatrix)):
        return obj.to_array()
    return obj


def read_mano_pickle(path: str | os.PathLike) -> dict[str, Any]:
    """The raw MANO dict with every chumpy / sparse object converted to a numpy array."""
    with open(path, "rb") as fh:
        try:
            raw = _MANOUnpickler(fh, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, OverflowError, MemoryError) as exc:
            raise ModelFileError(path, "MANO model file (pickle)", f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"not a MANO model file (a {type(raw).__name__}, not a dict)")
    return {str(k): _value(v) for k, v in raw.items()}


# --------------------------------------------------------------------------------------
# Conversion


def _pointing_side(v_template: np.ndarray, j_regressor: np.ndarray) -> str:
    """Which hand a template is, from where the fingers point (-x: right, +x: left)."""
    wrist = j_regressor[0] @ v_template
    return "right" if (v_template[:, 0] - wrist[0]).mean() < 0 else "left"


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, side: str, fix_left_shapedirs: bool,
                 tip_vertex_ids: tuple[int, ...] | None) -> HandModelData:
    with reading(path, "MANO model file (pickle)"):
        return _convert(path, read_mano_pickle(path), side, fix_left_shapedirs, tip_vertex_ids)


def _convert(path: str, d: dict[str, Any], side: str, fix_left_shapedirs: bool,
             tip_vertex_ids: tuple[int, ...] | None) -> HandModelData:
    required = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f", "kintree_table")
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"lacks the MANO fields {missing}")
    v = np.asarray(d["v_template"], dtype=np.float64)
    shapedirs = np.array(d["shapedirs"], dtype=np.float64)  # a copy: fixed below
    nv = v.shape[0]
    kintree = np.asarray(d["kintree_table"]).astype(np.int64)
    parents = tuple(int(p) if p < 16 else -1 for p in kintree[0])
    if parents[1:] != MANO_PARENTS[1:]:
        raise ValueError(f"kinematic tree {parents} is not MANO's {MANO_PARENTS}")
    if side == "left" and fix_left_shapedirs:
        shapedirs[:, 0, :] *= -1.0
    reg = np.asarray(d["J_regressor"], dtype=np.float64)
    found = _pointing_side(v, reg)
    if found != side:
        raise ValueError(f"holds a {found} hand (fingers along {'-' if found == 'right' else '+'}x), "
                         f"but side={side!r} was asked for")
    if tip_vertex_ids is None:
        if nv != MANO_NUM_VERTICES:
            raise ValueError(f"{nv} vertices; the fingertip ids of MANO are defined for "
                             f"{MANO_NUM_VERTICES}, pass tip_vertex_ids")
        tip_vertex_ids = SMPLX_TIP_IDS
    posedirs = np.asarray(d["posedirs"], dtype=np.float64).reshape(-1, 135).T  # [135, V*3]
    comps = d.get("hands_components")
    return HandModelData(
        name="mano", side=side, v_template=v, faces=np.asarray(d["f"]).astype(np.int64),
        shapedirs=shapedirs, j_regressor=reg, weights=np.asarray(d["weights"], dtype=np.float64),
        tip_vertex_ids=np.asarray(tip_vertex_ids, dtype=np.int64),
        hands_mean=np.asarray(d.get("hands_mean", np.zeros(45)), dtype=np.float64).reshape(45),
        posedirs=posedirs,
        hands_components=None if comps is None else np.asarray(comps, dtype=np.float64),
    )


def load_mano(path: str | os.PathLike, side: str, *, fix_left_shapedirs: bool = True,
              tip_vertex_ids: tuple[int, ...] | None = None) -> HandModelData:
    """Load a MANO pickle as :class:`HandModelData` (cached per file and options).

    Args:
        path: ``MANO_RIGHT.pkl`` or ``MANO_LEFT.pkl`` (see :func:`resolve_mano_path`).
        side: ``"right"`` or ``"left"``; checked against the template (fingers along -x is
            a right hand in MANO's frame).
        fix_left_shapedirs: negate the x component of the left hand's ``shapedirs``.
        tip_vertex_ids: fingertip vertex ids; default :data:`SMPLX_TIP_IDS` (778 vertices).

    Raises:
        FileNotFoundError: the file is missing (the message says where MANO comes from).
        ModelFileError: (a ``ValueError``, one line naming the file) not a MANO file, a
            corrupt or truncated one, another side, a different kinematic tree, or fields of
            wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise _missing(side, [path])
    tips = tuple(int(i) for i in tip_vertex_ids) if tip_vertex_ids is not None else None
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns, side, fix_left_shapedirs, tips)
