"""RViz / Foxglove markers of the hands of one image (``visualization_msgs/MarkerArray``).

Each array starts with a ``DELETEALL`` marker, then adds, per hand ``i`` (most confident
first):

* ``ns="hand_mesh/mesh"``, ``id=i``: the mesh as a ``TRIANGLE_LIST`` (3 points per
  triangle, the side's own triangle list), coloured by handedness;
* ``ns="hand_mesh/skeleton"``, ``id=i``: the 20 bones of the 21 keypoints as a
  ``LINE_LIST`` (:data:`hand_mesh_core.hand_model.SKELETON_EDGES`);
* ``ns="hand_mesh/label"``, ``id=i``: a ``TEXT_VIEW_FACING`` label ``"#<track id> <side>
  <score>"`` just above the hand (no ``#<track id>`` for untracked hands;
  :func:`hand_mesh_core.viz.label_text`, the labels of the overlays).

So the markers of a hand that left the image disappear with the next array: none linger.
All points are in metres in the optical frame of the image header (REP-103); the header
(stamp, frame_id) is the image's, so a display whose fixed frame is that camera frame
needs no TF.

Cost: a mesh marker holds 3 ``geometry_msgs/Point`` per triangle (~7000 for the open
model's 2314 faces). They are built by filling the generated class's slots directly (the
checked constructor is ~10x slower). In a process holding torch and MediaPipe, garbage
collections triggered by these allocations dominated (two hands: ~100 ms); the node calls
``gc.freeze()`` after loading its models (then ~17 ms to build, ~18 ms to serialise, on a
loaded 2-core machine). Nodes build markers only while someone subscribes.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from hand_mesh_core.hand_model import SKELETON_EDGES
from hand_mesh_core.results import HandResult, Prediction
from hand_mesh_core.viz import HAND_COLORS, label_text

#: RGB colour (0..1) of each side, the colours of :data:`hand_mesh_core.viz.HAND_COLORS`
#: (right blue, left orange), so markers and overlays agree.
SIDE_COLORS: dict[str, tuple[float, float, float]] = {
    side: (r / 255.0, g / 255.0, b / 255.0) for side, (r, g, b) in HAND_COLORS.items()
}
#: Marker namespaces.
NS_MESH, NS_SKELETON, NS_LABEL = "hand_mesh/mesh", "hand_mesh/skeleton", "hand_mesh/label"
#: Width of skeleton lines and height of label text (metres).
LINE_WIDTH_M = 0.004
TEXT_HEIGHT_M = 0.02
_EDGES = np.asarray(SKELETON_EDGES, dtype=np.int64).reshape(-1)


def _points_checked(xs: list[float], ys: list[float], zs: list[float]) -> list[Point]:
    return [Point(x=x, y=y, z=z) for x, y, z in zip(xs, ys, zs)]


def _points_direct(xs: list[float], ys: list[float], zs: list[float]) -> list[Point]:
    # The generated Point.__init__ checks every keyword and value (~2 us per point, ~30 ms
    # for two 2300-triangle meshes); the values here are Python floats from a finite
    # float64 array, so the slots are filled directly (~0.1 us per point).
    new, extra = Point.__new__, _EXTRA_SLOTS
    out = []
    for x, y, z in zip(xs, ys, zs):
        p = new(Point)
        p._x, p._y, p._z = x, y, z
        for name, value in extra:
            setattr(p, name, value)
        out.append(p)
    return out


def _direct_points_work() -> bool:
    """True when Point's storage is the ``_x/_y/_z`` slots of rosidl_generator_py (Humble
    to Kilted) and a directly filled Point equals a checked one; else the checked path is used."""
    try:
        probe = _points_direct([0.25], [-1.5], [3.0])[0]
        return probe == Point(x=0.25, y=-1.5, z=3.0) and repr(probe) == repr(Point(x=0.25, y=-1.5, z=3.0))
    except Exception:  # noqa: BLE001 - any difference in the generated class: use the checked path
        return False


_TEMPLATE = Point()
#: Slots of Point besides the three coordinates (e.g. ``_check_fields`` from Jazzy on), copied.
_EXTRA_SLOTS = tuple((n, getattr(_TEMPLATE, n)) for n in getattr(Point, "__slots__", ())
                     if n not in ("_x", "_y", "_z") and hasattr(_TEMPLATE, n))
_FILL = _points_direct if {"_x", "_y", "_z"} <= set(getattr(Point, "__slots__", ())) else _points_checked
if _FILL is _points_direct and not _direct_points_work():
    _FILL = _points_checked


def _points(xyz: np.ndarray) -> list[Point]:
    arr = np.asarray(xyz, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("marker points contain NaN or infinite values")
    # one list of floats per axis (floats are not tracked by the garbage collector)
    return _FILL(arr[:, 0].tolist(), arr[:, 1].tolist(), arr[:, 2].tolist())


def _color(side: str, alpha: float) -> ColorRGBA:
    r, g, b = SIDE_COLORS[side]
    return ColorRGBA(r=r, g=g, b=b, a=float(alpha))


def _marker(header: Header, ns: str, marker_id: int, kind: int) -> Marker:
    m = Marker()
    m.header = header
    m.ns = ns
    m.id = int(marker_id)
    m.type = kind
    m.action = Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = 1.0
    return m


def hand_markers(hand: HandResult, index: int, faces: np.ndarray | None, header: Header,
                 alpha: float = 0.8) -> list[Marker]:
    """The mesh (if ``faces`` and vertices exist), skeleton and label markers of one hand.

    Args:
        hand: the hand (vertices / keypoints in metres, optical frame).
        index: marker id (position of the hand in the array).
        faces: ``[F, 3]`` triangle list of the hand's side, or None.
        header: the image header.
        alpha: opacity of the mesh in [0, 1].

    Raises ``ValueError`` for ``alpha`` outside [0, 1] or faces indexing past the vertices.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = []
    if faces is not None and len(faces) and len(hand.vertices):
        faces = np.asarray(faces)
        if faces.max() >= len(hand.vertices) or faces.min() < 0:
            raise ValueError(f"faces index {int(faces.max())} is out of range for {len(hand.vertices)} vertices")
        mesh = _marker(header, NS_MESH, index, Marker.TRIANGLE_LIST)
        mesh.color = _color(hand.handedness, alpha)
        mesh.points = _points(hand.vertices[faces.reshape(-1)])
        out.append(mesh)
    skeleton = _marker(header, NS_SKELETON, index, Marker.LINE_LIST)
    skeleton.scale.x = LINE_WIDTH_M
    skeleton.color = _color(hand.handedness, 1.0)
    skeleton.points = _points(hand.keypoints_3d[_EDGES])
    out.append(skeleton)
    label = _marker(header, NS_LABEL, index, Marker.TEXT_VIEW_FACING)
    kp = hand.keypoints_3d.astype(np.float64)
    # above the hand: y points down in the optical frame, so "up" is the smallest y
    label.pose.position.x = float(kp[:, 0].mean())
    label.pose.position.y = float(kp[:, 1].min() - 1.5 * TEXT_HEIGHT_M)
    label.pose.position.z = float(kp[:, 2].mean())
    label.scale.z = TEXT_HEIGHT_M
    label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    label.text = label_text(hand)
    out.append(label)
    return out


def prediction_markers(prediction: Prediction, header: Header, alpha: float = 0.8) -> MarkerArray:
    """``MarkerArray``: ``DELETEALL`` first, then :func:`hand_markers` of every hand."""
    clear = Marker()
    clear.header = header
    clear.action = Marker.DELETEALL
    markers = [clear]
    for i, hand in enumerate(prediction):
        markers.extend(hand_markers(hand, i, prediction.faces.get(hand.handedness), header, alpha))
    return MarkerArray(markers=markers)
