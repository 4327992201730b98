"""Synthetic multi-hand images with full labels (issue 7, item 1).

Each image shows 0-6 hands of both sides, posed by the open hand model
(:class:`hand_mesh_core.hand_model.HandModel`) and rendered over a background:

* pose within the joint limits and shape (:mod:`.pose_sampling`); a uniformly random
  global orientation, rejected when the forearm would point at the camera;
* placement: a horizontal field of view in ``hfov_deg`` (square pixels, principal point
  jittered around the centre), a projected hand size drawn log-uniformly from
  ``hand_size`` (fraction of the shorter image side), a centre anywhere in the image
  (hands may be cut by the border); a hand is re-placed when its box overlaps an earlier
  hand's by more than ``max_overlap_iou``, or overlaps at all at a depth closer than
  ``min_depth_gap`` (which keeps hands from interpenetrating); occlusion between hands
  then comes from the z-buffer;
* a forearm (:mod:`.forearm`) at the wrist, skin-coloured or in a sleeve;
* appearance: per-hand skin albedo and texture variation, one SH lighting per image
  (:mod:`.appearance`), background photo crop or procedural texture (:mod:`.backgrounds`),
  a little blur and sensor noise;
* rendering with the z-buffer rasteriser (:mod:`.hard_rasterizer`), Gouraud-shaded.

Labels (:class:`~hand_mesh_core.data.sample.HandLabel`, all in the image's optical frame
with its ``K``): 21 keypoints in 3D (metres) and 2D (pixels), ``valid`` all True,
``visibility`` (inside the image and not hidden: the nearest surface at the keypoint's
pixel is the keypoint's own part of the hand, i.e. faces skinned mostly to the bones that
meet at that joint (the distal segment for a tip; for the wrist also its own forearm),
or lies behind the keypoint, or is background; false where another hand, a forearm or
another part of the same hand covers it, as RHD defines visibility from part masks),
MANO-style ``pose`` (global orientation in the optical frame + hand pose), ``shape``,
``transl`` (``HandModel(side)(betas=shape, global_orient=pose[:3], hand_pose=pose[3:],
transl=transl)`` reproduces the hand), ``mask`` (pixels where this hand's mesh is the
nearest surface; its forearm excluded) and ``bbox`` (the box of the projected mesh,
including parts cut by the border or hidden). Hands with fewer than
``min_visible_pixels`` mask pixels and no visible keypoint are not labelled (they are not
seen); every seen hand is, so ``all_hands_labelled`` is True.

Each index gives the same sample for a given ``seed`` (a ``numpy`` generator seeded with
``(seed, index)``), in any process or worker.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from hand_mesh_core.boxes import box_iou
from hand_mesh_core.camera import project_np
from hand_mesh_core.data.appearance import random_sh_lighting, skin_albedo, skin_tone
from hand_mesh_core.data.backgrounds import BackgroundSource
from hand_mesh_core.data.forearm import forearm_mesh
from hand_mesh_core.data.hard_rasterizer import rasterize
from hand_mesh_core.data.pose_sampling import sample_betas, sample_hand_pose
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image
from hand_mesh_core.hand_model import FINGER_JOINTS, MANO_PARENTS, MANO_TO_KEYPOINTS, TIP_FINGERS
from hand_mesh_core.render.shading import shade_vertices, vertex_normals

#: Palm normal of the canonical frame (both sides: the left is the x-mirror of the right).
PALM_NORMAL = np.array([0.0, -1.0, 0.0])
#: Keypoint indices used to attach the forearm (MediaPipe order).
WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17


def _keypoint_parts() -> tuple[frozenset[int], ...]:
    """For each of the 21 keypoints, the MANO joints whose surface counts as its own: the
    bones meeting at the joint (its parent's and its own; the distal segment for a tip)."""
    parts = []
    for source in MANO_TO_KEYPOINTS:
        if source >= 16:  # fingertip vertex: the distal segment of its finger
            parts.append(frozenset({FINGER_JOINTS[TIP_FINGERS[source - 16]][2]}))
        elif source == 0:
            parts.append(frozenset({0}))
        else:
            parts.append(frozenset({MANO_PARENTS[source], source}))
    return tuple(parts)


#: Surface parts (MANO joints) that belong to each keypoint, see :func:`_keypoint_parts`.
KEYPOINT_PARTS = _keypoint_parts()
#: Wrist to middle-finger MCP distance of an average adult hand (m), the forearm's size reference.
REFERENCE_PALM_LENGTH = 0.09


@dataclasses.dataclass
class SyntheticConfig:
    """Parameters of :class:`SyntheticHands` (plain values, so OmegaConf can build it).

    Attributes:
        length: number of samples (indices 0..length-1).
        seed: base seed; sample ``i`` is a function of ``(seed, i)``.
        image_size: ``(width, height)`` pixels.
        hand_count_weights: relative probability of 0, 1, 2, ... hands per image.
        hfov_deg: range of the horizontal field of view (degrees).
        principal_jitter: principal point offset from the centre, fraction of the size.
        hand_size: range of a hand's projected extent, fraction of the shorter side
            (log-uniform).
        max_overlap_iou: largest box IoU between two hands.
        min_depth_gap: metres between the centres of hands whose boxes overlap.
        forearm_probability: chance that a hand has a forearm.
        sleeve_probability: chance that a forearm wears a sleeve.
        named_pose_probability: chance of a named gesture instead of a sampled pose.
        background_folders: photo folders for backgrounds; None = ``../shared/data/pool``
            when present (else procedural only); ``[]`` = procedural only.
        photo_probability: chance of a photo background when photos exist.
        hand_model: ``"open"`` or ``"mano"`` (with ``mano_path``).
        mano_path: MANO folder for ``hand_model="mano"``.
        min_visible_pixels: mask pixels (or a visible keypoint) a hand needs to be labelled.
        blur_sigma: range of the Gaussian blur (pixels).
        noise_sigma: range of the additive Gaussian noise (8-bit levels).
    """

    length: int = 100_000
    seed: int = 0
    image_size: tuple[int, int] = (384, 384)
    hand_count_weights: tuple[float, ...] = (0.05, 0.3, 0.25, 0.15, 0.1, 0.08, 0.07)
    hfov_deg: tuple[float, float] = (45.0, 85.0)
    principal_jitter: float = 0.03
    hand_size: tuple[float, float] = (0.12, 0.6)
    max_overlap_iou: float = 0.5
    min_depth_gap: float = 0.12
    forearm_probability: float = 0.9
    sleeve_probability: float = 0.5
    named_pose_probability: float = 0.2
    background_folders: list[str] | None = None
    photo_probability: float = 0.7
    hand_model: str = "open"
    mano_path: str | None = None
    min_visible_pixels: int = 30
    blur_sigma: tuple[float, float] = (0.0, 1.0)
    noise_sigma: tuple[float, float] = (0.0, 4.0)

    def validate(self) -> None:
        """Raise ``ValueError`` for out-of-range values."""
        w, h = self.image_size
        if self.length < 0 or w < 16 or h < 16:
            raise ValueError(f"need length >= 0 and an image of at least 16x16, got {self.length}, {self.image_size}")
        if not self.hand_count_weights or min(self.hand_count_weights) < 0 or sum(self.hand_count_weights) <= 0:
            raise ValueError(f"hand_count_weights must be non-negative with a positive sum, got {self.hand_count_weights}")
        if not 1.0 < self.hfov_deg[0] <= self.hfov_deg[1] < 179.0:
            raise ValueError(f"hfov_deg must be an increasing range inside (1, 179), got {self.hfov_deg}")
        if not 0.0 < self.hand_size[0] <= self.hand_size[1]:
            raise ValueError(f"hand_size must be an increasing positive range, got {self.hand_size}")
        for name in ("forearm_probability", "sleeve_probability", "named_pose_probability", "photo_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


def _normals(vertices: np.ndarray, faces: torch.Tensor) -> torch.Tensor:
    return vertex_normals(torch.as_tensor(vertices, dtype=torch.float32)[None], faces)


@dataclasses.dataclass
class _Hand:
    side: str
    betas: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    vertices: np.ndarray  # [V, 3] camera frame, transl applied
    keypoints: np.ndarray  # [21, 3]
    box: np.ndarray  # [4] projected vertices


class SyntheticHands(torch.utils.data.Dataset):
    """Map-style dataset of synthetic multi-hand images: ``dataset[i]`` is a :class:`Sample`
    with ``image`` (``HxWx3 uint8`` RGB), ``K`` and one :class:`HandLabel` (with ``mask``)
    per visible hand. See the module docstring for the labels' definitions.

    Args:
        config: a :class:`SyntheticConfig` (default values when None).
        **overrides: fields of the config to replace.

    Raises ``ValueError`` for invalid settings; ``IndexError`` for an index outside
    ``[-len, len)``.
    """

    def __init__(self, config: SyntheticConfig | None = None, **overrides) -> None:
        self.config = dataclasses.replace(config or SyntheticConfig(), **overrides)
        self.config.validate()
        folders = self.config.background_folders
        if folders is None:
            from hand_mesh_core.paths import find_shared_data

            shared = find_shared_data()
            folders = [str(shared / "pool")] if shared is not None else []
        self.backgrounds = BackgroundSource(folders, self.config.photo_probability)
        self._models: dict[str, torch.nn.Module] | None = None
        self._rest: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.config.length

    # ------------------------------------------------------------------ models
    @property
    def models(self) -> dict[str, torch.nn.Module]:
        """``{"left": HandModel, "right": HandModel}`` (float64, CPU), built on first use."""
        if self._models is None:
            from hand_mesh_core.hand_model import HandModel

            self._models = {
                side: HandModel(side, self.config.hand_model, self.config.mano_path).to(torch.float64).eval()
                for side in ("left", "right")
            }
        return self._models

    def _rest_appearance(self, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rest-pose vertices, normals and nail weights ``[V]`` of ``side`` (cached)."""
        if side not in self._rest:
            model = self.models[side]
            with torch.no_grad():
                out = model()
            verts = out.vertices[0].numpy()
            normals = _normals(verts, model.faces)[0].numpy()
            tips = verts[model.tip_vertex_ids.numpy()]  # [5, 3]
            dist = np.linalg.norm(verts[:, None] - tips[None], axis=-1).min(axis=1)
            dorsal = np.clip((normals @ -PALM_NORMAL - 0.3) / 0.4, 0.0, 1.0)
            nail = np.clip(1.0 - dist / 0.012, 0.0, 1.0) * dorsal
            self._rest[side] = (verts, normals, nail)
        return self._rest[side]

    # ------------------------------------------------------------------ sampling
    def _camera(self, rng: np.random.Generator) -> np.ndarray:
        w, h = self.config.image_size
        f = (w / 2.0) / math.tan(math.radians(rng.uniform(*self.config.hfov_deg)) / 2.0)
        j = self.config.principal_jitter
        cx = w / 2.0 + rng.uniform(-j, j) * w
        cy = h / 2.0 + rng.uniform(-j, j) * h
        return np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])

    def _posed(self, side: str, betas: np.ndarray, global_orient: np.ndarray, hand_pose: np.ndarray,
               vertices: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        with torch.no_grad():
            out = self.models[side](betas=betas[None], global_orient=global_orient[None], hand_pose=hand_pose[None],
                                    compute_vertices=vertices)
        return (out.vertices[0].numpy() if vertices else None), out.keypoints[0].numpy()

    def _sample_hand(self, rng: np.random.Generator, K: np.ndarray, placed: list[_Hand]) -> _Hand | None:
        cfg = self.config
        w, h = cfg.image_size
        side = "left" if rng.uniform() < 0.5 else "right"
        model = self.models[side]
        betas = sample_betas(rng, model.num_betas)
        hand_pose = sample_hand_pose(rng, side, model.joint_frames, cfg.named_pose_probability)
        for _ in range(20):  # orientation: the forearm must not point at the camera
            global_orient = Rotation.random(random_state=rng).as_rotvec()
            _, kps = self._posed(side, betas, global_orient, hand_pose, vertices=False)
            axis = kps[WRIST] - kps[MIDDLE_MCP]
            if axis[2] / np.linalg.norm(axis) > -0.3:
                break
        else:
            return None
        verts, kps = self._posed(side, betas, global_orient, hand_pose)
        centre = verts.mean(axis=0)
        extent = float(np.ptp(verts[:, :2], axis=0).max())
        for _ in range(15):  # placement: size, image position, no deep overlap
            size_px = math.exp(rng.uniform(math.log(cfg.hand_size[0]), math.log(cfg.hand_size[1]))) * min(w, h)
            depth = K[0, 0] * extent / size_px
            uv = np.array([rng.uniform(0.0, w), rng.uniform(0.0, h), 1.0])
            transl = depth * np.linalg.solve(K, uv) - centre
            v = verts + transl
            if v[:, 2].min() < 0.08:
                continue
            p = project_np(v, K)
            box = np.r_[p.min(axis=0), p.max(axis=0)]
            ok = True
            for other in placed:
                iou = box_iou(box[None], other.box[None])[0, 0]
                overlap = not (box[2] < other.box[0] or other.box[2] < box[0] or box[3] < other.box[1] or other.box[3] < box[1])
                gap = abs(float(v[:, 2].mean() - other.vertices[:, 2].mean()))
                if iou > cfg.max_overlap_iou or (overlap and gap < cfg.min_depth_gap):
                    ok = False
                    break
            if ok:
                return _Hand(side, betas, global_orient, hand_pose, transl, v, kps + transl, box)
        return None

    def _forearm(self, rng: np.random.Generator, hand: _Hand, skin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kp = hand.keypoints
        scale = float(np.linalg.norm(kp[MIDDLE_MCP] - kp[WRIST])) / REFERENCE_PALM_LENGTH
        axis = kp[WRIST] - kp[MIDDLE_MCP]
        axis = axis / np.linalg.norm(axis)
        bend = rng.normal(size=3)
        bend -= axis * (bend @ axis)
        axis = Rotation.from_rotvec(np.radians(rng.uniform(0, 15)) * bend / max(np.linalg.norm(bend), 1e-9)).apply(axis)
        across = rng.uniform(0.026, 0.031) * scale
        wrist_radii = (across, across * rng.uniform(0.62, 0.75))
        grow = rng.uniform(1.2, 1.45)
        length = rng.uniform(0.18, 0.3) * scale
        verts, faces = forearm_mesh(kp[WRIST], axis, kp[INDEX_MCP] - kp[PINKY_MCP], length, wrist_radii,
                                    (wrist_radii[0] * grow, wrist_radii[1] * grow))
        albedo = np.tile(skin, (len(verts), 1)) * (1.0 + rng.normal(0.0, 0.02, (len(verts), 1)))
        if rng.uniform() < self.config.sleeve_probability:
            along = (verts - kp[WRIST]) @ axis
            cloth = rng.uniform(0.05, 0.95, 3)
            albedo[along > rng.uniform(0.03, 0.12) * scale] = cloth
        return verts, faces, np.clip(albedo, 0.0, 1.0)

    # ------------------------------------------------------------------ sample
    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, i]))
        # The per-image torch work is many tiny operations (hand model, normals, shading)
        # whose multi-threaded dispatch costs more than it saves: 0.32 s vs 0.11 s per image
        # with 2 threads vs 1 on the 2-core development machine. DataLoader workers run
        # single-threaded already; the main process is switched for the call.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._generate(rng, sample_id=str(i))
        finally:
            torch.set_num_threads(threads)

    def _generate(self, rng: np.random.Generator, sample_id: str) -> Sample:
        cfg = self.config
        w, h = cfg.image_size
        K = self._camera(rng)
        weights = np.asarray(cfg.hand_count_weights, np.float64)
        count = int(rng.choice(len(weights), p=weights / weights.sum()))
        hands: list[_Hand] = []
        for _ in range(count):
            hand = self._sample_hand(rng, K, hands)
            if hand is not None:
                hands.append(hand)
        sh = random_sh_lighting(rng)
        shared_tone = skin_tone(rng) if rng.uniform() < 0.5 else None
        mesh_v, mesh_f, mesh_col, owner = [], [], [], []
        for k, hand in enumerate(hands):
            model = self.models[hand.side]
            rest_v, rest_n, nail = self._rest_appearance(hand.side)
            tone = shared_tone if shared_tone is not None else skin_tone(rng)
            albedo = skin_albedo(rng, rest_v, rest_n, PALM_NORMAL, nail, base=tone)
            mesh_v.append(hand.vertices)
            mesh_f.append(model.faces.numpy())
            mesh_col.append(albedo)
            owner.append(k)
        for k, hand in enumerate(hands):
            if rng.uniform() < cfg.forearm_probability:
                v, f, col = self._forearm(rng, hand, mesh_col[k].mean(axis=0))
                mesh_v.append(v)
                mesh_f.append(f)
                mesh_col.append(col)
                owner.append(k)
        raster = rasterize(mesh_v, mesh_f, K, (w, h))
        image = self.backgrounds(rng, (w, h)).astype(np.float32) / 255.0
        for m, (v, f, albedo) in enumerate(zip(mesh_v, mesh_f, mesh_col)):
            normals = _normals(v, torch.as_tensor(f))
            colour = shade_vertices(normals, torch.as_tensor(albedo, dtype=torch.float32)[None], sh)[0].clamp(0, 1).numpy()
            yx, values = raster.interpolate(m, f, colour)
            image[yx[:, 0], yx[:, 1]] = values
        sigma = rng.uniform(*cfg.blur_sigma)
        if sigma > 0.3:
            image = cv2.GaussianBlur(image, (0, 0), sigma)
        image = image * 255.0 + rng.uniform(*cfg.noise_sigma) * rng.standard_normal(image.shape, dtype=np.float32)
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        labels = [label for k, hand in enumerate(hands) if (label := self._label(hand, k, owner, raster, K)) is not None]
        return Sample(hands=labels, image=image, K=K, all_hands_labelled=True, dataset="synthetic", sample_id=sample_id)

    def _part_maps(self, side: str) -> np.ndarray:
        """Per face of ``side``'s mesh, the MANO joint whose skinning weight dominates it (cached)."""
        key = f"faces_{side}"
        if key not in self._rest:
            model = self.models[side]
            w = model.lbs_weights.numpy()[model.faces.numpy()].sum(axis=1)  # [F, 16]
            self._rest[key] = w.argmax(axis=1)
        return self._rest[key]

    def _label(self, hand: _Hand, k: int, owner: list[int], raster, K: np.ndarray) -> HandLabel | None:
        cfg = self.config
        w, h = cfg.image_size
        uv = project_np(hand.keypoints, K)
        inside = visible_in_image(uv, (w, h))
        visible = np.zeros(21, bool)
        forearm = [m for m, o in enumerate(owner) if o == k and m != k]
        face_joint = self._part_maps(hand.side)
        for j in np.nonzero(inside)[0]:
            x, y = int(uv[j, 0]), int(uv[j, 1])
            front = raster.mesh_index[y, x]
            if front == k:
                own = face_joint[raster.face_index[y, x]] in KEYPOINT_PARTS[j]
            else:
                own = front == -1 or (j == WRIST and front in forearm)
            # a foreign surface hides the keypoint only when it lies in front of it
            visible[j] = own or raster.depth[y, x] >= hand.keypoints[j, 2]
        mask = raster.mesh_index == k
        if mask.sum() < cfg.min_visible_pixels and not visible.any():
            return None
        return HandLabel(
            keypoints_2d=uv, valid=np.ones(21, bool), visibility=visible, handedness=hand.side,
            keypoints_3d=hand.keypoints, pose=np.r_[hand.global_orient, hand.hand_pose], shape=hand.betas,
            transl=hand.transl, bbox=hand.box, mask=mask,
        )


__all__ = ["SyntheticConfig", "SyntheticHands"]
