"""Synthetic MANO model files (no real MANO file is available here), shared by the tests.

A file is a 778-vertex piece of the open model laid out as MANO's pickle
(``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``): MANO's keys (``v_template``, ``shapedirs``,
``posedirs``, ``J_regressor``, ``weights``, ``f``, ``kintree_table``, ``hands_components``,
``hands_mean``, ``hands_coeffs``, ``J``, ``bs_style``, ``bs_type``), a sparse regressor, the
uint32 root parent of ``kintree_table``, random pose correctives, mean pose and PCA basis,
and the left file's flipped ``shapedirs`` x component (the defect the field knows,
``shared/notes/hand-models.md``). The vertices include the open model's joint-regressor
rings and fingertips, moved to smplx's tip ids.

Two flavours:

* ``chumpy=True``: as MANO ships it, a Python-2 style dict with ``chumpy.ch.Ch`` objects
  (emulated: the class path is what the pickle records, chumpy itself is not installed) and
  a ``scipy.sparse.csc.csc_matrix`` regressor under the old scipy module path;
* ``chumpy=False``: the same content as plain numpy arrays and a current
  ``scipy.sparse.csc_matrix`` (what ``smplx`` reads without chumpy).
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np

from hand_mesh_core.hand_model.mano_loader import MANO_FILES, SMPLX_TIP_IDS
from hand_mesh_core.hand_model.open_model import load_open_model


def fake_chumpy_modules() -> dict[str, types.ModuleType]:
    """Modules named like chumpy's and old scipy's, holding classes with the same paths."""
    chumpy, ch, reordering = (types.ModuleType(n) for n in ("chumpy", "chumpy.ch", "chumpy.reordering"))
    csc_mod = types.ModuleType("scipy.sparse.csc")

    class Ch:  # pickled by state, as chumpy.ch.Ch (its __getstate__ returns __dict__)
        pass

    class Select:
        pass

    class csc_matrix:  # noqa: N801  (the pickled class name)
        pass

    for cls, mod in ((Ch, ch), (Select, reordering), (csc_matrix, csc_mod)):
        cls.__module__, cls.__qualname__ = mod.__name__, cls.__name__
        setattr(mod, cls.__name__, cls)
    chumpy.ch, chumpy.reordering = ch, reordering
    return {"chumpy": chumpy, "chumpy.ch": ch, "chumpy.reordering": reordering, "scipy.sparse.csc": csc_mod}


def mano_dict(side: str, rng: np.random.Generator, mods: dict | None) -> tuple[dict, np.ndarray]:
    """A MANO-format dict from the open model (778 of its vertices) and the vertex subset.

    ``mods``: :func:`fake_chumpy_modules` for chumpy objects, None for plain arrays.
    Returns the dict and ``layout [778]``, the open-model vertex id of each MANO vertex.
    """
    data = load_open_model(side)
    reg = data.j_regressor
    needed = np.unique(np.concatenate([np.nonzero(reg.any(0))[0], data.tip_vertex_ids]))
    others = np.setdiff1d(np.arange(data.num_vertices), needed)[: 778 - len(needed)]
    chosen = np.sort(np.concatenate([needed, others]))
    # place the five tips at smplx's ids, the rest in order
    order = [int(i) for i in chosen if i not in set(data.tip_vertex_ids.tolist())]
    layout = np.empty(778, dtype=np.int64)
    slots = [k for k in range(778) if k not in SMPLX_TIP_IDS]
    layout[slots] = order
    layout[list(SMPLX_TIP_IDS)] = data.tip_vertex_ids
    new_of_old = {int(o): n for n, o in enumerate(layout)}
    faces = np.array([[new_of_old[int(i)] for i in f] for f in data.faces if all(int(i) in new_of_old for i in f)],
                     dtype=np.uint32)

    def ch(x):
        if mods is None:
            return np.asarray(x)
        obj = mods["chumpy.ch"].Ch()
        obj.__dict__.update({"x": np.asarray(x), "_dirty_vars": set(), "_itr": None,
                             "_depends_on_deps": {}, "_make_dense": False, "_make_sparse": False})
        return obj

    def csc(dense):
        import scipy.sparse as sp

        m = sp.csc_matrix(dense)
        if mods is None:
            return m
        obj = mods["scipy.sparse.csc"].csc_matrix()
        obj.__dict__.update({"_shape": m.shape, "data": m.data, "indices": m.indices,
                             "indptr": m.indptr, "maxprint": 50})
        return obj

    shapedirs = data.shapedirs[layout].copy()
    if side == "left":
        shapedirs[:, 0, :] *= -1  # the defect of MANO_LEFT.pkl that the loader repairs
    comps = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    # v_template as a chumpy Select over a Ch (exercises the evaluation of reordering nodes)
    if mods is None:
        select = data.v_template[layout].copy()
    else:
        select = mods["chumpy.reordering"].Select()
        select.__dict__.update({"a": ch(data.v_template[layout]), "idxs": np.arange(778 * 3),
                                "preferred_shape": (778, 3)})
    out = {
        "v_template": select,
        "shapedirs": ch(shapedirs),
        "posedirs": 0.01 * rng.normal(size=(778, 3, 135)),
        "J_regressor": csc(reg[:, layout]),
        "weights": data.weights[layout],
        "f": faces,
        "kintree_table": np.array([[4294967295, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14],
                                   list(range(16))], dtype=np.uint32),
        "hands_components": comps,
        "hands_mean": 0.2 * rng.normal(size=45),
        "hands_coeffs": rng.normal(size=(5, 45)),
        "J": reg[:, layout] @ data.v_template[layout],
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    return out, layout


def write_mano_files(folder: Path, *, chumpy: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl`` into ``folder`` (pickle protocol 2).

    Returns ``{side: layout}`` (see :func:`mano_dict`). With ``chumpy=True`` the fake chumpy
    and old-scipy modules are in ``sys.modules`` only while pickling.
    """
    mods = fake_chumpy_modules() if chumpy else None
    rng = np.random.default_rng(seed)
    saved = {k: sys.modules.get(k) for k in (mods or {})}
    sys.modules.update(mods or {})
    try:
        layouts = {}
        for side in ("right", "left"):
            content, layouts[side] = mano_dict(side, rng, mods)
            with open(folder / MANO_FILES[side], "wb") as fh:
                pickle.dump(content, fh, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    assert "chumpy" not in sys.modules or sys.modules["chumpy"] is saved.get("chumpy")
    return layouts
