"""Build the open hand model from the MIT-licensed WebXR generic hand.

Source: npm package ``@webxr-input-profiles/assets`` (version pinned below), file
``dist/profiles/generic-hand/right.glb`` (MIT licence, Amazon 2019). The converter

1. fetches the package with ``npm pack`` into a temporary folder (or reads a given
   ``.glb``), reads the skinned mesh with ``pygltflib`` and welds the UV-seam duplicates
   (1360 -> 1159 vertices, 2314 triangles, watertight);
2. re-rigs the 25 WebXR joints onto MANO's 16-joint tree: the four finger metacarpal joints
   merge into the wrist, each tip joint into its distal joint (skin weights are summed);
   MANO joint ``j`` sits at the WebXR joint of the same name (index1 = index
   phalanx-proximal, ..., thumb1 = thumb metacarpal);
3. rotates and translates the hand into MANO's canonical frame: fingers along -x, palm
   facing -y, thumb on the +z side, wrist joint at ``MANO_WRIST`` (so that
   ``global_orient`` and ``transl`` mean the same as with MANO);
4. regresses each joint from a ring of vertices around it with non-negative least squares
   (weights close to uniform over the ring, summing to 1), so that joints follow shape
   changes the way MANO's ``J_regressor`` does;
5. builds the 10 designed shape directions of :mod:`.shape_space`, each a smooth
   displacement field blended with the skinning weights and calibrated so that one unit
   changes its measurement by one adult SD;
6. derives the left hand as the exact mirror (x -> -x, faces re-wound so that normals
   still point outwards), rather than converting ``left.glb``, which is a mirror only
   within 2 mm: ``left(mirrored pose) == mirror(right(pose))`` holds to rounding.

Everything is deterministic: the same input gives byte-identical ``.npz`` files
(:func:`~.open_model.save_npz`), which a test checks.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from hand_mesh_core.hand_model.keypoints import FINGER_JOINTS, MANO_JOINT_NAMES
from hand_mesh_core.hand_model.model_data import HandModelData
from hand_mesh_core.hand_model.open_model import (
    OPEN_MODEL_DIR,
    OPEN_MODEL_NAME,
    open_model_path,
    save_npz,
    to_arrays,
)
from hand_mesh_core.hand_model.shape_space import SHAPE_COMPONENTS, SHAPE_NAMES

log = logging.getLogger(__name__)

WEBXR_PACKAGE = "@webxr-input-profiles/assets"
WEBXR_VERSION = "1.0.20"
GLB_MEMBER = "package/dist/profiles/generic-hand/right.glb"
LICENSE_MEMBER = "package/LICENSE.md"

#: MANO's right-hand wrist joint in its canonical frame, metres, rounded to the millimetre
#: (``shared/notes/hand-models.md``). The open model's regressed wrist is put exactly here.
MANO_WRIST = np.array([0.096, 0.006, 0.006])

#: WebXR joint name prefix of each MANO finger.
_WEBXR_FINGER = {"thumb": "thumb", "index": "index-finger", "middle": "middle-finger",
                 "ring": "ring-finger", "pinky": "pinky-finger"}
_WEBXR_SEGMENTS = {"thumb": ("metacarpal", "phalanx-proximal", "phalanx-distal"),
                   "other": ("phalanx-proximal", "phalanx-intermediate", "phalanx-distal")}
_TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")
_RING_HALF_WIDTH = 0.004  # m, half thickness of the slab of vertices regressing a joint


def mano_joint_for_webxr() -> dict[str, int]:
    """MANO joint (0-15) that each of the 25 WebXR joints' skin weights go to."""
    out = {"wrist": 0}
    for finger, prefix in _WEBXR_FINGER.items():
        chain = FINGER_JOINTS[finger]
        segs = _WEBXR_SEGMENTS["thumb" if finger == "thumb" else "other"]
        for seg, j in zip(segs, chain):
            out[f"{prefix}-{seg}"] = j
        out[f"{prefix}-tip"] = chain[2]
        if finger != "thumb":
            out[f"{prefix}-metacarpal"] = 0
    return out


def webxr_name_of_mano_joint() -> list[str]:
    """WebXR joint whose position each MANO joint takes (MANO order)."""
    names = ["wrist"] + [""] * 15
    for finger, prefix in _WEBXR_FINGER.items():
        segs = _WEBXR_SEGMENTS["thumb" if finger == "thumb" else "other"]
        for seg, j in zip(segs, FINGER_JOINTS[finger]):
            names[j] = f"{prefix}-{seg}"
    return names


# --------------------------------------------------------------------------------------
# Input


def fetch_webxr_glb(workdir: Path) -> tuple[bytes, str, str]:
    """Download the pinned npm package with ``npm pack`` into ``workdir``.

    The npm cache is pointed into ``workdir`` too, so nothing is left outside it.

    Returns:
        ``(glb bytes, licence text, tarball sha256)``.

    Raises:
        RuntimeError: npm is not installed or the registry cannot be reached.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed: install Node.js/npm, or pass --glb with a "
                           f"copy of {GLB_MEMBER} from {WEBXR_PACKAGE}@{WEBXR_VERSION}")
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "pack", f"{WEBXR_PACKAGE}@{WEBXR_VERSION}", "--silent",
           "--pack-destination", str(workdir), "--cache", str(workdir / "npm-cache")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (is the npm registry reachable?): "
                           f"{proc.stderr.strip()[-500:]}")
    tarball = tarballs[0]
    with tarfile.open(tarball) as tar:
        glb = tar.extractfile(GLB_MEMBER).read()  # type: ignore[union-attr]
        licence = tar.extractfile(LICENSE_MEMBER).read().decode()  # type: ignore[union-attr]
    return glb, licence, hashlib.sha256(tarball.read_bytes()).hexdigest()


@dataclass
class GlbHand:
    """The skinned hand of a WebXR glb, UV-seam duplicates welded (WebXR frame, metres)."""

    vertices: np.ndarray  # [V, 3] float64
    faces: np.ndarray  # [F, 3] int64, counter-clockwise from outside
    uvs: np.ndarray  # [V, 2] UV of each welded vertex's first occurrence
    face_uvs: np.ndarray  # [F, 3, 2] per-corner UVs (exact at seams)
    weights: np.ndarray  # [V, 25] skin weights over the WebXR joints
    joint_names: list[str]  # 25 WebXR joint names
    joint_positions: np.ndarray  # [25, 3]
    joint_rotations: np.ndarray  # [25, 3, 3] node orientation (WebXR: -Z along the bone, +Y dorsal)


def _accessor(gltf, index: int) -> np.ndarray:
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}[acc.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    if view.byteStride not in (None, width * np.dtype(dtype).itemsize):
        raise ValueError("interleaved glTF buffers are not supported")
    offset = (view.byteOffset or 0) + (acc.byteOffset or 0)
    return np.frombuffer(gltf.binary_blob(), dtype=dtype, count=acc.count * width,
                         offset=offset).reshape(acc.count, width)


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def read_glb(data: bytes) -> GlbHand:
    """Read the skinned mesh and joints of a WebXR generic-hand ``.glb``.

    Raises:
        ValueError: the file is not a single skinned mesh in bind pose with the 25 WebXR joints.
    """
    import pygltflib

    gltf = pygltflib.GLTF2.load_from_bytes(data)
    if len(gltf.meshes) != 1 or len(gltf.skins) != 1:
        raise ValueError("expected one mesh and one skin in the glb")
    prim = gltf.meshes[0].primitives[0]
    pos = _accessor(gltf, prim.attributes.POSITION).astype(np.float64)
    uv = _accessor(gltf, prim.attributes.TEXCOORD_0).astype(np.float64)
    jnt = _accessor(gltf, prim.attributes.JOINTS_0).astype(np.int64)
    wgt = _accessor(gltf, prim.attributes.WEIGHTS_0).astype(np.float64)
    tri = _accessor(gltf, prim.indices).astype(np.int64).reshape(-1, 3)
    skin = gltf.skins[0]
    nodes = [gltf.nodes[i] for i in skin.joints]
    names = [n.name for n in nodes]
    if set(names) != set(mano_joint_for_webxr()):
        raise ValueError(f"unexpected joint names in the glb: {names}")
    jpos = np.array([n.translation for n in nodes], dtype=np.float64)
    jrot = np.array([_quat_to_matrix(np.array(n.rotation, dtype=np.float64)) for n in nodes])
    ibm = _accessor(gltf, skin.inverseBindMatrices).astype(np.float64).reshape(-1, 4, 4)
    for k in range(len(nodes)):  # glTF matrices are column-major
        world = np.eye(4)
        world[:3, :3], world[:3, 3] = jrot[k], jpos[k]
        if np.abs(ibm[k].T @ world - np.eye(4)).max() > 1e-5:
            raise ValueError("the glb's mesh is not in its bind pose (joint nodes are nested?)")
    w25 = np.zeros((len(pos), len(names)))
    np.add.at(w25, (np.repeat(np.arange(len(pos)), 4), jnt.ravel()), wgt.ravel())
    # weld vertices at identical positions (UV seams), keeping first-occurrence order
    _, first, inverse = np.unique(pos, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new_of_old = rank[inverse.ravel()]
    keep = first[order]
    if np.abs(w25[keep][new_of_old] - w25).max() > 1e-6:
        raise ValueError("welded vertices have different skin weights")
    faces = new_of_old[tri]
    return GlbHand(pos[keep], faces, uv[keep], uv[tri], w25[keep], names, jpos, jrot)


# --------------------------------------------------------------------------------------
# Rig


def _canonical_rotation(joints: np.ndarray) -> np.ndarray:
    """Rotation taking a right hand's (MANO-ordered) joints into MANO's canonical axes.

    Finger direction ``f`` = wrist -> middle MCP, projected into the palm plane (the plane
    fitted to the wrist and the four MCPs), palm normal ``n`` (volar) and thumb direction
    ``t = f x n`` (right hand). Rows ``(-f, -n, t)`` send f to -x, n to -y and t to +z.
    """
    pts = joints[[0, 1, 4, 7, 10]]
    _, _, vt = np.linalg.svd(pts - pts.mean(0))
    n = vt[2]
    f = joints[4] - joints[0]
    f = f - (f @ n) * n
    f /= np.linalg.norm(f)
    t = np.cross(f, n)
    if t @ (joints[14] - joints[4]) < 0:  # the thumb must be on the +t side
        n, t = -n, -t
    return np.stack([-f, -n, t])


def _ring_regressor(vertices: np.ndarray, w25: np.ndarray, names: list[str], joint: np.ndarray,
                    axis: np.ndarray, bones: list[str], half_width: float) -> np.ndarray:
    """Weights over vertices (>= 0, sum 1) whose combination is ``joint``.

    The ring: vertices skinned mostly (>= 0.5) to ``bones`` (the WebXR joints adjacent to
    the joint) lying in a slab of ``half_width`` metres about the plane through ``joint``
    normal to ``axis``. NNLS of ``[alpha (V - joint); beta 1^T; I] w = [0; beta; 1/n]``:
    reproduce the joint, sum to one, and stay close to uniform over the ring.
    """
    cols = [names.index(b) for b in bones]
    near = np.abs((vertices - joint) @ axis) < half_width
    ring = np.nonzero(near & (w25[:, cols].sum(1) >= 0.5))[0]
    if len(ring) < 6:
        raise ValueError(f"ring around {bones} has only {len(ring)} vertices")
    n = len(ring)
    alpha, beta = 300.0, 100.0
    a = np.vstack([alpha * (vertices[ring] - joint).T, beta * np.ones((1, n)), np.eye(n)])
    b = np.concatenate([np.zeros(3), [beta], np.full(n, 1.0 / n)])
    w, _ = nnls(a, b, maxiter=50 * n)
    w /= w.sum()
    out = np.zeros(len(vertices))
    out[ring] = w
    return out


def _webxr_chain(names: list[str], joint: str) -> list[str]:
    """The WebXR joints of ``joint``'s digit, base to tip (e.g. index metacarpal .. tip)."""
    prefix = joint.split("-phalanx")[0].split("-metacarpal")[0]
    order = ("metacarpal", "phalanx-proximal", "phalanx-intermediate", "phalanx-distal", "tip")
    chain = [n for n in names if n.startswith(prefix + "-")]
    return sorted(chain, key=lambda n: order.index(n[len(prefix) + 1:]))


def regress_joints(vertices: np.ndarray, w25: np.ndarray, names: list[str],
                   webxr_joints: np.ndarray) -> np.ndarray:
    """``[16, V]`` joint regressor: one NNLS ring per MANO joint (:func:`_ring_regressor`).

    Args:
        vertices: ``[V, 3]`` metres; w25: ``[V, 25]`` WebXR skin weights; names: the 25
        WebXR joint names; webxr_joints: ``[25, 3]`` their positions (same frame).
    """
    idx = {n: k for k, n in enumerate(names)}
    reg = np.zeros((16, len(vertices)))
    for j, name in enumerate(webxr_name_of_mano_joint()):
        p = webxr_joints[idx[name]]
        if j == 0:
            axis = webxr_joints[idx["middle-finger-phalanx-proximal"]] - p
            bones = ["wrist"]
        else:
            chain = _webxr_chain(names, name)
            k = chain.index(name)
            axis = webxr_joints[idx[chain[k + 1]]] - p
            bones = [chain[k - 1] if k > 0 else "wrist", name]
        reg[j] = _ring_regressor(vertices, w25, names, p, axis / np.linalg.norm(axis), bones,
                                 _RING_HALF_WIDTH)
    return reg


def weights_to_mano(w25: np.ndarray, names: list[str]) -> np.ndarray:
    """Sum the 25 WebXR skin weights into MANO's 16 joints: ``[V, 25] -> [V, 16]``."""
    target = mano_joint_for_webxr()
    m = np.zeros((len(names), 16))
    for k, n in enumerate(names):
        m[k, target[n]] = 1.0
    return w25 @ m


def tip_vertices(vertices: np.ndarray, w16: np.ndarray, joints: np.ndarray,
                 webxr_tips: np.ndarray) -> np.ndarray:
    """Fingertip vertex ids (thumb, index, middle, ring, pinky): the vertex of each distal
    segment (skin weight >= 0.5 on the distal joint) farthest along the DIP -> WebXR tip axis."""
    ids = []
    for finger, tip in zip(_TIP_ORDER, webxr_tips):
        dip = FINGER_JOINTS[finger][2]
        axis = (tip - joints[dip]) / np.linalg.norm(tip - joints[dip])
        cand = np.nonzero(w16[:, dip] >= 0.5)[0]
        ids.append(int(cand[np.argmax((vertices[cand] - joints[dip]) @ axis)]))
    return np.array(ids, dtype=np.int64)


def dyadic_rows(w: np.ndarray, bits: int = 20) -> np.ndarray:
    """Round non-negative rows summing to 1 to multiples of ``2**-bits`` that still sum to
    exactly 1 (the rounding residue goes to each row's largest entry).

    Such values are exact in float32 and so are their sums, so the skinning weights and
    regressor rows of the saved model sum to exactly 1 in any precision (translation and
    rigid motions are then reproduced without a 1e-7 scale error).
    """
    q = np.round(w * 2.0**bits)
    rows = np.arange(len(q))
    q[rows, np.argmax(q, axis=1)] += 2.0**bits - q.sum(1)
    return q / 2.0**bits


# --------------------------------------------------------------------------------------
# Shape space


def _blend(w16: np.ndarray, fields: dict[int, np.ndarray]) -> np.ndarray:
    """Blend per-bone displacement fields ``{joint: [V, 3]}`` with the skinning weights."""
    out = np.zeros((w16.shape[0], 3))
    for j, d in fields.items():
        out += w16[:, j : j + 1] * d
    return out


def _segments(joints: np.ndarray, tips: np.ndarray, finger: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(joint, start, end) of the three segments of ``finger``'s chain, the last ending at the tip."""
    chain = FINGER_JOINTS[finger]
    ends = [joints[chain[1]], joints[chain[2]], tips[_TIP_ORDER.index(finger)]]
    return [(j, joints[j], e) for j, e in zip(chain, ends)]


def _stretch(v: np.ndarray, joints: np.ndarray, tips: np.ndarray, finger: str,
             s: float) -> dict[int, np.ndarray]:
    """Fields that lengthen ``finger``'s segments by the fraction ``s`` along their axes.

    Segment k's points move by ``s`` times their projection on its axis from its start,
    plus the growth of the segments before it (so the chain stays connected).
    """
    fields, carried = {}, np.zeros(3)
    for j, a, b in _segments(joints, tips, finger):
        axis = (b - a) / np.linalg.norm(b - a)
        fields[j] = carried + s * ((v - a) @ axis)[:, None] * axis
        carried = carried + s * (b - a)
    return fields


def _thicken(v: np.ndarray, joints: np.ndarray, tips: np.ndarray, finger: str,
             segments: tuple[int, ...] = (0, 1, 2)) -> dict[int, np.ndarray]:
    """Fields that push points away from the axis of ``finger``'s segments (unit rate)."""
    fields = {}
    for k, (j, a, b) in enumerate(_segments(joints, tips, finger)):
        if k not in segments:
            continue
        axis = (b - a) / np.linalg.norm(b - a)
        off = v - a
        fields[j] = off - (off @ axis)[:, None] * axis
    return fields


def _palm_field(v: np.ndarray, joints: np.ndarray, field) -> dict[int, np.ndarray]:
    """Apply a palm displacement ``field`` (callable ``[N, 3] -> [N, 3]``) to the palm
    (joints 0 and 13, the thumb metacarpal being palm tissue) and carry each digit along
    rigidly with the field's value at its base (the MCP; the thumb's MCP is joint 14)."""
    fields = {0: field(v), 13: field(v)}
    for finger, chain in FINGER_JOINTS.items():
        base = chain[1] if finger == "thumb" else chain[0]
        moved = field(joints[base][None])[0]
        for j in chain:
            if j != 13:
                fields[j] = np.broadcast_to(moved, v.shape)
    return fields


def raw_shape_directions(v: np.ndarray, w16: np.ndarray, joints: np.ndarray,
                         tips: np.ndarray) -> np.ndarray:
    """``[V, 3, 10]`` uncalibrated displacement fields, in :data:`SHAPE_NAMES` order.

    Args:
        v: ``[V, 3]`` template (canonical frame, metres); w16: ``[V, 16]`` skinning weights;
        joints: ``[16, 3]`` regressed joints; tips: ``[5, 3]`` tip vertices (thumb..pinky).
    """
    wrist = joints[0]
    f = joints[4] - wrist
    f /= np.linalg.norm(f)  # finger direction
    normal = np.cross(joints[1] - wrist, joints[7] - wrist)
    normal /= np.linalg.norm(normal)  # palm normal (sign irrelevant: a scaling)
    lateral = np.cross(normal, f)  # across the palm
    centre = joints[[0, 1, 4, 7, 10]].mean(0)
    palm_ids = w16[:, 0] > 0.5
    mid = centre + ((v[palm_ids] - centre) @ normal).mean() * normal  # palm mid-plane point
    fingers = ("index", "middle", "ring", "pinky")

    def merge(*parts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for part in parts:
            for j, d in part.items():
                out[j] = out.get(j, 0.0) + d
        return out

    dirs = {
        "size": v - wrist,
        "palm_length": _blend(w16, _palm_field(v, joints, lambda x: ((x - wrist) @ f)[:, None] * f)),
        "palm_width": _blend(w16, _palm_field(v, joints, lambda x: ((x - centre) @ lateral)[:, None] * lateral)),
        "palm_thickness": _blend(w16, _palm_field(v, joints, lambda x: ((x - mid) @ normal)[:, None] * normal)),
        "finger_length": _blend(w16, merge(*[_stretch(v, joints, tips, g, 1.0) for g in fingers])),
        "finger_girth": _blend(w16, merge(*[_thicken(v, joints, tips, g) for g in fingers])),
        "thumb_length": _blend(w16, _stretch(v, joints, tips, "thumb", 1.0)),
        "pinky_length": _blend(w16, _stretch(v, joints, tips, "pinky", 1.0)),
        "digit_ratio": _blend(w16, merge(_stretch(v, joints, tips, "index", 0.5),
                                         _stretch(v, joints, tips, "ring", -0.5))),
        "thumb_girth": _blend(w16, _thicken(v, joints, tips, "thumb", (1, 2))),
    }
    return np.stack([dirs[name] for name in SHAPE_NAMES], axis=-1)


def _measure(v: np.ndarray, reg: np.ndarray, tip_ids: np.ndarray, sets) -> dict[str, float]:
    import torch

    from hand_mesh_core.hand_model.keypoints import MANO_TO_KEYPOINTS
    from hand_mesh_core.hand_model.shape_space import measure_hand

    vt = torch.from_numpy(v)[None]
    joints = torch.from_numpy(reg @ v)[None]
    kp = torch.cat([joints, vt[:, torch.from_numpy(tip_ids)]], dim=1)[:, list(MANO_TO_KEYPOINTS)]
    return {k: float(x[0]) for k, x in measure_hand(vt, joints, kp, sets).items()}


def calibrate(v: np.ndarray, raw: np.ndarray, reg: np.ndarray, w16: np.ndarray,
              tip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each raw direction so that one unit changes its measurement by one SD.

    Returns ``(shapedirs [V, 3, 10], response [10, 10])`` where ``response[k, i]`` is the
    first-order change of measurement ``i`` per unit of coefficient ``k``, in units of
    measurement ``i``'s SD (1 on the diagonal by construction).
    """
    import torch

    from hand_mesh_core.hand_model.shape_space import measurement_sets

    sets = measurement_sets(torch.from_numpy(v), torch.from_numpy(w16), torch.from_numpy(reg @ v))
    base = _measure(v, reg, tip_ids, sets)
    eps = 1e-4
    out = np.empty_like(raw)
    response = np.zeros((len(SHAPE_NAMES), len(SHAPE_NAMES)))
    for k, comp in enumerate(SHAPE_COMPONENTS):
        plus = _measure(v + eps * raw[..., k], reg, tip_ids, sets)
        minus = _measure(v - eps * raw[..., k], reg, tip_ids, sets)
        slope = {n: (plus[n] - minus[n]) / (2 * eps) for n in SHAPE_NAMES}
        scale = comp.relative_sd * base[comp.name] / slope[comp.name]
        out[..., k] = raw[..., k] * scale
        for i, other in enumerate(SHAPE_COMPONENTS):
            response[k, i] = slope[other.name] * scale / (other.relative_sd * base[other.name])
    return out, response


def joint_frames(joints: np.ndarray, tips: np.ndarray, dorsal: np.ndarray) -> np.ndarray:
    """``[16, 3, 3]`` anatomical frames, columns (flexion axis, abduction axis, twist axis).

    Twist axis ``u``: along the bone leaving the joint (to the child joint, or the tip);
    abduction axis ``d``: the WebXR joint's +Y (dorsal) axis made orthogonal to ``u``;
    flexion axis ``d x u``, so that a positive rotation about it moves the bone towards the
    palm (``-d``). The wrist's frame uses the wrist -> middle MCP direction.
    """
    frames = np.zeros((16, 3, 3))
    for j in range(16):
        if j == 0:
            child = joints[4]
        else:
            finger = next(g for g, c in FINGER_JOINTS.items() if j in c)
            chain = FINGER_JOINTS[finger]
            k = chain.index(j)
            child = joints[chain[k + 1]] if k < 2 else tips[_TIP_ORDER.index(finger)]
        u = (child - joints[j]) / np.linalg.norm(child - joints[j])
        d = dorsal[j] - (dorsal[j] @ u) * u
        d /= np.linalg.norm(d)
        frames[j] = np.stack([np.cross(d, u), d, u], axis=1)
    return frames


# --------------------------------------------------------------------------------------
# Assembly


@dataclass
class BuildReport:
    """Figures of a build, written into ``PROVENANCE.md``."""

    glb_sha256: str
    tarball_sha256: str | None
    joint_errors_mm: np.ndarray  # [16] |regressed - WebXR joint| on the template
    hand_length_m: float
    shape_response: np.ndarray  # [10, 10], see calibrate()


def build_right(glb: bytes) -> tuple[HandModelData, BuildReport]:
    """Convert the WebXR right-hand glb into the open model's right hand."""
    hand = read_glb(glb)
    idx = {n: k for k, n in enumerate(hand.joint_names)}
    mano_src = [idx[n] for n in webxr_name_of_mano_joint()]
    rot = _canonical_rotation(hand.joint_positions[mano_src])
    v = hand.vertices @ rot.T
    jx = hand.joint_positions @ rot.T
    reg = dyadic_rows(regress_joints(v, hand.weights, hand.joint_names, jx))
    shift = MANO_WRIST - reg[0] @ v
    v, jx = v + shift, jx + shift
    joints = reg @ v
    w16 = dyadic_rows(weights_to_mano(hand.weights, hand.joint_names))
    webxr_tips = jx[[idx[f"{_WEBXR_FINGER[f]}-tip"] for f in _TIP_ORDER]]
    tip_ids = tip_vertices(v, w16, joints, webxr_tips)
    raw = raw_shape_directions(v, w16, joints, v[tip_ids])
    shapedirs, response = calibrate(v, raw, reg, w16, tip_ids)
    dorsal = (hand.joint_rotations[mano_src][:, :, 1]) @ rot.T
    data = HandModelData(
        name=OPEN_MODEL_NAME, side="right", v_template=v, faces=hand.faces, shapedirs=shapedirs,
        j_regressor=reg, weights=w16, tip_vertex_ids=tip_ids, hands_mean=np.zeros(45),
        uvs=hand.uvs, face_uvs=hand.face_uvs, shape_names=SHAPE_NAMES,
        joint_frames=joint_frames(joints, v[tip_ids], dorsal),
    )
    report = BuildReport(
        glb_sha256=hashlib.sha256(glb).hexdigest(), tarball_sha256=None,
        joint_errors_mm=1000 * np.linalg.norm(joints - jx[mano_src], axis=1),
        hand_length_m=float(np.linalg.norm(v[tip_ids[2]] - joints[0])),
        shape_response=response,
    )
    return data, report


def mirror_model(right: HandModelData) -> HandModelData:
    """The left hand as the exact mirror of ``right`` through the plane x = 0.

    Vertices, shape directions and joint frames get x -> -x (frames also change sign so
    that mirrored poses have the same anatomical angles, see ``joint_limits``); faces swap
    two corners so that their normals still point outwards; the regressor, weights, tip
    ids and UVs are unchanged.
    """
    m = np.array([-1.0, 1.0, 1.0])
    return HandModelData(
        name=right.name, side="left", v_template=right.v_template * m,
        faces=right.faces[:, [0, 2, 1]], shapedirs=right.shapedirs * m[None, :, None],
        j_regressor=right.j_regressor, weights=right.weights, tip_vertex_ids=right.tip_vertex_ids,
        hands_mean=right.hands_mean, uvs=right.uvs,
        face_uvs=None if right.face_uvs is None else right.face_uvs[:, [0, 2, 1]],
        shape_names=right.shape_names,
        joint_frames=None if right.joint_frames is None else -m[None, :, None] * right.joint_frames,
    )


def _source_arrays(report: BuildReport) -> dict[str, np.ndarray]:
    return {"joint_regression_error_mm": report.joint_errors_mm.astype(np.float32)}


def provenance_text(report: BuildReport) -> str:
    """The ``PROVENANCE.md`` written beside the model files (deterministic)."""
    err = report.joint_errors_mm
    rows = "\n".join(
        f"| {k} | {c.name} | {c.relative_sd * 100:.1f} % | {c.typical_range[0]:+.0f} .. {c.typical_range[1]:+.0f} | "
        f"{max(abs(report.shape_response[k, i]) for i in range(len(SHAPE_NAMES)) if i != k):.2f} |"
        for k, c in enumerate(SHAPE_COMPONENTS))
    joints = ", ".join(f"{n} {e:.2f}" for n, e in zip(MANO_JOINT_NAMES, err))
    return f"""# Open hand model: provenance

Generated by `hand_mesh_core/hand_model/build_open_model.py` (`hand-mesh hand-model build`).
Do not edit by hand; rebuild instead. The build is deterministic (a test regenerates the
files and compares them byte for byte).

- Source: npm package `{WEBXR_PACKAGE}@{WEBXR_VERSION}`, file `{GLB_MEMBER.removeprefix("package/")}`
  (MIT licence, copyright 2019 Amazon; see `LICENSE` here).
- sha256 of right.glb: `{report.glb_sha256}`
- Left hand: exact mirror of the right hand (x -> -x in MANO's canonical frame; faces
  re-wound so normals point outwards). `left.glb` is not used.
- Mesh: 1159 vertices (UV-seam duplicates of the 1360 welded), 2314 triangles,
  watertight, faces counter-clockwise seen from outside.
- Rig: MANO's 16-joint tree (order and parents as MANO / smplx). Finger metacarpal joints
  merged into the wrist, tip joints into the distal joints; skin weights summed.
- Frame: MANO's right-hand canonical frame (fingers -x, palm towards -y, thumb +z), the
  regressed wrist at ({MANO_WRIST[0]:.3f}, {MANO_WRIST[1]:.3f}, {MANO_WRIST[2]:.3f}) m.
- Joint regressor: NNLS over a ring of vertices around each joint; distance of the
  regressed joints from the WebXR joints on the template, mm: {joints}.
  Max {err.max():.2f} mm, mean {err.mean():.2f} mm.
- Zero shape, zero pose: wrist joint to middle fingertip {report.hand_length_m * 1000:.1f} mm.
- Shape space (see `hand_model/shape_space.py`): 10 designed directions; one unit
  changes its own measurement by one SD (column 3); the last column is the largest change
  of any other measurement, in that measurement's SDs (first order).

| k | name | 1 unit = | typical range | max cross-talk (SD) |
|---|------|----------|---------------|---------------------|
{rows}
"""


LICENSE_HEADER = ("The open hand model files in this folder (open_hand_right.npz, open_hand_left.npz)\n"
                  f"are derived from the WebXR generic hand of the npm package {WEBXR_PACKAGE}\n"
                  f"(version {WEBXR_VERSION}), distributed under the following licence:\n\n")


def build(out_dir: Path = OPEN_MODEL_DIR, glb_path: Path | None = None,
          licence_path: Path | None = None, workdir: Path | None = None) -> BuildReport:
    """Build both sides and write them, ``LICENSE`` and ``PROVENANCE.md`` into ``out_dir``.

    Args:
        out_dir: destination folder (default: the package's ``assets/hand_model``).
        glb_path: a local copy of ``right.glb``; default: fetch the pinned npm package.
        licence_path: the package's ``LICENSE.md`` (with ``glb_path``); default: keep the
            ``LICENSE`` already in ``out_dir`` when the glb is given locally.
        workdir: where ``npm pack`` downloads (default: a temporary folder, removed after).

    Raises:
        RuntimeError: npm or the registry is unavailable (and no ``glb_path`` was given).
    """
    tarball_sha = None
    licence = licence_path.read_text() if licence_path is not None else None
    if glb_path is not None:
        glb = Path(glb_path).read_bytes()
    else:
        with tempfile.TemporaryDirectory(prefix="webxr_hand_") as tmp:
            glb, licence, tarball_sha = fetch_webxr_glb(Path(workdir or tmp))
    right, report = build_right(glb)
    report.tarball_sha256 = tarball_sha
    out_dir = Path(out_dir)
    for data in (right, mirror_model(right)):
        save_npz(open_model_path(data.side, out_dir), to_arrays(data, _source_arrays(report)))
    if licence is not None:
        (out_dir / "LICENSE").write_text(LICENSE_HEADER + licence)
    (out_dir / "PROVENANCE.md").write_text(provenance_text(report))
    log.info("open hand model written to %s (joint error max %.2f mm, hand length %.1f mm)",
             out_dir, report.joint_errors_mm.max(), report.hand_length_m * 1000)
    return report
