"""The open model's 10 shape coefficients: what each one means, and how it is measured.

The open model's ``betas`` are not PCA coefficients of scans (there are no open hand
scans to learn from) but 10 *designed* linear directions, each changing one measurable
property of the hand. ``build_open_model.py`` builds each direction as a smooth
displacement field (blended with the skinning weights) and scales it so that
``betas[k] = 1`` changes measurement ``k`` by ``relative_sd`` (one standard deviation of
adults, as a fraction of the template's value), to first order. Zero is the template (the
WebXR generic hand: wrist joint to middle fingertip vertex 0.190 m). ``shape_prior_loss`` treats the
coefficients as independent unit Gaussians, the same prior as MANO's betas.

The relative SDs are design values taken from adult anthropometry (pooled sexes, after
removing overall size where marked "residual"): hand length about 6 % (ANSUR II 2012 and
Pheasant & Haslegrave, *Bodyspace*, 3rd ed., 2006, hand dimensions table); hand breadth,
palm length, finger and thumb lengths 4-5 % residual; girths and palm thickness 7-8 %
residual; the 2D:4D digit ratio 0.034 on a mean of 0.97 (Manning, *Digit Ratio*, 2002).
They are not fitted to data; they set units, not a learned distribution.

Ranges (``typical_range``) are where real hands lie: ``size = -7`` is a hand of about
0.11 m (wrist joint to middle tip; a 2-3 year old child), ``size = +3`` about 0.22 m
(beyond the largest adult hands). The other coefficients span +-3 adult SDs. Children's hands are mostly
``size`` with relatively shorter fingers (``finger_length`` down to about -2) and a wider
palm (``palm_width`` up to about +2); combine them freely, the model is linear.

All measurements are taken at zero pose, in metres (or a ratio), and work on any
``HandModel`` output (open or MANO backend) through :func:`measure_hand`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hand_mesh_core.hand_model.keypoints import FINGER_JOINTS, KEYPOINT_NAMES


@dataclass(frozen=True)
class ShapeComponent:
    """One shape coefficient of the open model.

    Attributes:
        name: identifier, also the key of the measurement in :func:`measure_hand`.
        description: what changes when the coefficient grows.
        relative_sd: change of the measurement per unit coefficient, as a fraction of its
            value on the template (one adult standard deviation).
        typical_range: (low, high) coefficient values covering real hands.
    """

    name: str
    description: str
    relative_sd: float
    typical_range: tuple[float, float]


#: The 10 shape coefficients, in ``betas`` order.
SHAPE_COMPONENTS: tuple[ShapeComponent, ...] = (
    ShapeComponent("size", "uniform scale about the wrist joint; measured as hand length "
                   "(wrist joint to middle fingertip)", 0.06, (-7.0, 3.0)),
    ShapeComponent("palm_length", "palm stretched along the fingers' direction, fingers "
                   "carried along; wrist to middle MCP", 0.04, (-3.0, 3.0)),
    ShapeComponent("palm_width", "palm stretched across (thumb to little finger side), "
                   "fingers carried along; index MCP to pinky MCP", 0.05, (-3.0, 3.0)),
    ShapeComponent("palm_thickness", "palm scaled between back and palm side; extent of "
                   "the palm centre along the palm normal", 0.08, (-3.0, 3.0)),
    ShapeComponent("finger_length", "index, middle, ring and pinky stretched along their "
                   "bones; mean MCP-to-tip length of index, middle and ring", 0.04, (-3.0, 3.0)),
    ShapeComponent("finger_girth", "index to pinky thickened about their bone axes; mean "
                   "radius of the proximal phalanges", 0.07, (-3.0, 3.0)),
    ShapeComponent("thumb_length", "thumb stretched along its bones; CMC-to-tip length",
                   0.05, (-3.0, 3.0)),
    ShapeComponent("pinky_length", "little finger stretched along its bones; pinky "
                   "length / ring length (MCP to tip)", 0.05, (-3.0, 3.0)),
    ShapeComponent("digit_ratio", "index lengthened and ring shortened (2D:4D ratio); "
                   "index length / ring length", 0.035, (-3.0, 3.0)),
    ShapeComponent("thumb_girth", "thumb phalanges thickened about their axes; radius of "
                   "the thumb's proximal phalanx", 0.07, (-3.0, 3.0)),
)

SHAPE_NAMES: tuple[str, ...] = tuple(c.name for c in SHAPE_COMPONENTS)
NUM_BETAS = len(SHAPE_COMPONENTS)

_PALM_CENTRE_RADIUS = 0.012  # m, around the palm centre, in the palm plane
_RING_SPAN = (0.35, 0.65)  # fraction of a phalanx's length, for girth rings
_FINGERS = ("index", "middle", "ring", "pinky")
_TIP_KEYPOINT = {f: KEYPOINT_NAMES.index(f"{f}_tip") for f in ("thumb", *_FINGERS)}


@dataclass(frozen=True)
class MeasurementSets:
    """Vertex sets of one model used by the measurements (chosen on its rest mesh).

    Attributes:
        palm_centre: LongTensor of vertices of the palm (skinned to the wrist) near the palm
            centre; their extent along the palm normal is the palm thickness.
        finger_rings: dict finger -> LongTensor of vertices around the middle of that
            finger's proximal phalanx.
        thumb_ring: LongTensor, the same for the thumb's proximal phalanx (joint 14-15).
    """

    palm_centre: torch.Tensor
    finger_rings: dict[str, torch.Tensor]
    thumb_ring: torch.Tensor


def _bone_ring(vertices: torch.Tensor, weights: torch.Tensor, joints: torch.Tensor,
               bone: int, child: int) -> torch.Tensor:
    a, b = joints[bone], joints[child]
    axis = b - a
    t = ((vertices - a) @ axis) / axis.dot(axis)
    owner = weights.argmax(dim=1) == bone
    ids = torch.nonzero(owner & (t > _RING_SPAN[0]) & (t < _RING_SPAN[1])).flatten()
    if ids.numel() < 4:
        raise ValueError(f"too few vertices ({ids.numel()}) around bone {bone} for a girth")
    return ids


def measurement_sets(rest_vertices: torch.Tensor, lbs_weights: torch.Tensor,
                     rest_joints: torch.Tensor) -> MeasurementSets:
    """Choose the vertex sets of :class:`MeasurementSets` on a model's rest mesh.

    Args:
        rest_vertices: ``[V, 3]`` metres, zero pose and zero shape.
        lbs_weights: ``[V, 16]`` skinning weights (MANO joint order).
        rest_joints: ``[16, 3]`` metres, the joints of the same rest mesh.

    Raises:
        ValueError: when a set would have too few vertices (not a hand-like mesh).
    """
    v, w, j = rest_vertices.double(), lbs_weights.double(), rest_joints.double()
    centre = j[[0, 1, 4, 7, 10]].mean(0)
    normal = torch.linalg.cross(j[1] - j[0], j[7] - j[0])
    normal = normal / normal.norm()
    offset = v - centre
    in_plane = offset - (offset @ normal)[:, None] * normal
    palm = torch.nonzero((w[:, 0] > 0.9) & (in_plane.norm(dim=1) < _PALM_CENTRE_RADIUS)).flatten()
    if palm.numel() < 2:
        raise ValueError("no palm vertices near the palm centre")
    rings = {f: _bone_ring(v, w, j, FINGER_JOINTS[f][0], FINGER_JOINTS[f][1]) for f in _FINGERS}
    thumb = _bone_ring(v, w, j, FINGER_JOINTS["thumb"][1], FINGER_JOINTS["thumb"][2])
    return MeasurementSets(palm, rings, thumb)


def _radius(vertices: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean distance of ``vertices [B, n, 3]`` from the lines through ``a``, ``b`` ``[B, 3]``."""
    axis = b - a
    axis = axis / axis.norm(dim=-1, keepdim=True)
    off = vertices - a[:, None]
    radial = off - (off * axis[:, None]).sum(-1, keepdim=True) * axis[:, None]
    return radial.norm(dim=-1).mean(-1)


def _chain_length(keypoints: torch.Tensor, joints: torch.Tensor, finger: str) -> torch.Tensor:
    a, b, c = FINGER_JOINTS[finger]
    tip = keypoints[:, _TIP_KEYPOINT[finger]]
    return ((joints[:, b] - joints[:, a]).norm(dim=-1) + (joints[:, c] - joints[:, b]).norm(dim=-1)
            + (tip - joints[:, c]).norm(dim=-1))


def measure_hand(vertices: torch.Tensor, joints: torch.Tensor, keypoints: torch.Tensor,
                 sets: MeasurementSets) -> dict[str, torch.Tensor]:
    """Measure the quantities that the shape coefficients are documented to change.

    Args:
        vertices: ``[B, V, 3]`` metres, a hand at zero pose (any global orientation).
        joints: ``[B, 16, 3]`` metres, MANO order.
        keypoints: ``[B, 21, 3]`` metres, MediaPipe order.
        sets: the model's :class:`MeasurementSets`.

    Returns:
        dict name -> ``[B]`` tensor, one entry per name of :data:`SHAPE_NAMES`: lengths in
        metres except the ratios ``digit_ratio`` (index / ring length) and
        ``pinky_length`` (pinky / ring length). Finger lengths are MCP -> PIP -> DIP -> tip
        paths (thumb: CMC -> MCP -> IP -> tip).
    """
    j, kp = joints, keypoints
    normal = torch.linalg.cross(j[:, 1] - j[:, 0], j[:, 7] - j[:, 0])
    normal = normal / normal.norm(dim=-1, keepdim=True)
    depth = (vertices[:, sets.palm_centre] * normal[:, None]).sum(-1)
    lengths = {f: _chain_length(kp, j, f) for f in _FINGERS}
    girths = [_radius(vertices[:, sets.finger_rings[f]], j[:, FINGER_JOINTS[f][0]],
                      j[:, FINGER_JOINTS[f][1]]) for f in _FINGERS]
    return {
        "size": (kp[:, _TIP_KEYPOINT["middle"]] - kp[:, 0]).norm(dim=-1),
        "palm_length": (j[:, 4] - j[:, 0]).norm(dim=-1),
        "palm_width": (j[:, 1] - j[:, 7]).norm(dim=-1),
        "palm_thickness": depth.amax(-1) - depth.amin(-1),
        "finger_length": (lengths["index"] + lengths["middle"] + lengths["ring"]) / 3.0,
        "finger_girth": torch.stack(girths).mean(0),
        "thumb_length": _chain_length(kp, j, "thumb"),
        "pinky_length": lengths["pinky"] / lengths["ring"],
        "digit_ratio": lengths["index"] / lengths["ring"],
        "thumb_girth": _radius(vertices[:, sets.thumb_ring], j[:, 14], j[:, 15]),
    }
