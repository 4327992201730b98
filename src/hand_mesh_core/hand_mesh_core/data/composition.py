"""Multi-hand composition: real hand crops pasted onto backgrounds (the paper's multi-hand set).

Ren, Zhu, Zhang (CVIU 2023) train their multi-hand ability on images made by pasting
FreiHAND hand crops, randomly flipped to make left hands, onto background images, up to 4
per image (``../shared/notes/method.md``). Here the donors are any labelled samples
(pseudo-labels of unlabelled media, public-format readers), and per composed image:

* the canvas is a background (:class:`~hand_mesh_core.data.backgrounds.BackgroundSource`:
  photo crops with few skin pixels, or procedural textures) or, with ``base_probability``,
  a whole labelled donor image covering the canvas (zoomed and cropped), whose hands keep
  their labels, so that pasted hands join real scenes;
* ``0 .. len(hand_count_weights) - 1`` donor hands are pasted (fewer when they do not fit),
  each at a log-uniform size (``hand_size``, fraction of the shorter side), rotated by up to
  ``rotate_deg``, mirrored with ``flip_probability`` (labels mirrored consistently: 2D
  keypoints moved with the pixels, side swapped, pose mirrored, 3D mirrored — see
  :func:`hand_mesh_core.data.augment.transform_hand`), with a colour gain;
* each paste uses a *soft mask*: the union of the fitted mesh's silhouette (when the label
  has ``pose``/``shape``/``transl`` and the donor ``K``) and a skeleton drawing (bones of
  width ``finger_width`` of the hand size, palm polygon), dilated and feathered, plus a
  forearm stub that fades out, so the pasted hand carries its own wrist context;
* occlusion: later pastes cover earlier hands; a keypoint under a later paste's alpha
  above 0.5 is not visible, and a hand's mask (``HandLabel.mask``) is its own silhouette
  minus what later pastes cover. Placements whose box overlaps an earlier hand's by more
  than ``max_overlap_iou`` are redrawn.

3D labels (approximate, documented): a pasted hand keeps its root-relative 3D shape,
rotated and mirrored like the pixels; its wrist depth is scaled by
``(f_canvas / f_donor) / zoom`` (a hand drawn ``zoom`` times larger is that much closer)
and its wrist is back-projected through the canvas ``K`` at the new wrist pixel. This
ignores perspective differences across the image, so the canvas ``K`` and 3D agree only
approximately for pasted hands; 2D labels are exact.

Each index gives the same image for a given ``seed`` (generator seeded with ``(seed, index)``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from hand_mesh_core.boxes import box_iou
from hand_mesh_core.camera import intrinsics_from_fov, project_np
from hand_mesh_core.data.augment import camera_transform, transform_hand
from hand_mesh_core.data.backgrounds import BackgroundSource
from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image
from hand_mesh_core.hand_model import SKELETON_EDGES

#: Keypoints of the palm polygon (wrist, thumb CMC, index/middle/ring/pinky MCP).
PALM_POLYGON = (0, 1, 5, 9, 13, 17)
WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17


@dataclasses.dataclass
class CompositionConfig:
    """Parameters of :class:`ComposedHands` (plain values, so OmegaConf can build it).

    Attributes:
        length: number of samples.
        seed: base seed; sample ``i`` is a function of ``(seed, i)``.
        image_size: ``(width, height)`` of the composed image, pixels.
        hand_count_weights: relative probability of pasting 0, 1, 2, ... hands.
        hand_size: range of a pasted hand's size (larger box side) as a fraction of the
            shorter image side (log-uniform).
        rotate_deg: in-plane rotation drawn uniformly in ``+-rotate_deg``.
        flip_probability: chance of mirroring a donor (a left hand from a right one).
        base_probability: chance of starting from a whole labelled donor image.
        max_overlap_iou: largest box IoU of a paste with an earlier hand.
        colour_gain: per-channel gain range of a pasted hand.
        finger_width: bone width of the skeleton mask, fraction of the hand size.
        feather: Gaussian feathering sigma of the mask edge, fraction of the hand size.
        forearm_length: length of the fading forearm stub, in wrist-to-middle-MCP lengths.
        min_donor_size: donor hands smaller than this (pixels) are not used.
        min_visible_keypoints: a hand left with fewer visible keypoints makes the paste
            that covered it be undone.
        hfov_deg: horizontal field of view range of the canvas camera (procedural backgrounds).
        background_folders: photo folders of :class:`BackgroundSource`; None = none (procedural).
        photo_probability: chance of a photo background when photos exist.
    """

    length: int = 10_000
    seed: int = 0
    image_size: tuple[int, int] = (384, 384)
    hand_count_weights: tuple[float, ...] = (0.05, 0.25, 0.25, 0.15, 0.12, 0.1, 0.08)
    hand_size: tuple[float, float] = (0.1, 0.6)
    rotate_deg: float = 60.0
    flip_probability: float = 0.5
    base_probability: float = 0.3
    max_overlap_iou: float = 0.3
    colour_gain: tuple[float, float] = (0.8, 1.2)
    finger_width: float = 0.09
    feather: float = 0.015
    forearm_length: float = 0.8
    min_donor_size: float = 48.0
    min_visible_keypoints: int = 6
    hfov_deg: tuple[float, float] = (45.0, 75.0)
    background_folders: list[str] | None = None
    photo_probability: float = 0.8

    def validate(self) -> None:
        """Raise ``ValueError`` for out-of-range values."""
        w, h = self.image_size
        if self.length < 0 or w < 32 or h < 32:
            raise ValueError(f"need length >= 0 and an image of at least 32x32, got {self.length}, {self.image_size}")
        if not self.hand_count_weights or min(self.hand_count_weights) < 0 or sum(self.hand_count_weights) <= 0:
            raise ValueError(f"hand_count_weights must be non-negative with a positive sum, got {self.hand_count_weights}")
        if not 0.0 < self.hand_size[0] <= self.hand_size[1]:
            raise ValueError(f"hand_size must be an increasing positive range, got {self.hand_size}")
        for name in ("flip_probability", "base_probability", "photo_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 < self.colour_gain[0] <= self.colour_gain[1]:
            raise ValueError(f"colour_gain must be an increasing positive range, got {self.colour_gain}")


@dataclasses.dataclass(frozen=True)
class Donor:
    """One pasteable hand: ``source`` (index of the donor dataset), ``sample`` and ``hand``
    indices, and its size in pixels."""

    source: int
    sample: int
    hand: int
    size: float


def hand_paste_mask(label: HandLabel, image_size: tuple[int, int], config: CompositionConfig,
                    mesh_uv: np.ndarray | None = None, faces: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Soft paste alpha and hand mask of one labelled hand in its own image.

    The alpha is the hand region (skeleton drawing united with the mesh silhouette) plus a
    forearm stub fading linearly to 0 over its length, blurred with a Gaussian of
    ``feather`` times the hand size (0.5 at the region's edge).

    Args:
        label: the hand (its valid 2D keypoints, pixels).
        image_size: ``(W, H)`` of its image.
        config: widths and feathering (fractions of the hand size).
        mesh_uv: ``[V, 2]`` projected fitted mesh (pixels), or None; ``faces`` its triangles.

    Returns:
        ``alpha`` uint8 ``[H, W]`` (0-255: hand + fading forearm stub, feathered) and
        ``hand`` bool ``[H, W]`` (the hand alone, undilated).
    """
    w, h = image_size
    kp = label.keypoints_2d
    size = label.box_size()
    hand = np.zeros((h, w), np.uint8)
    shift = 4  # fractional bits of the OpenCV drawing calls
    pts = np.round(kp * (1 << shift)).astype(np.int32)
    width = max(1, int(round(config.finger_width * size)))
    for a, b in SKELETON_EDGES:
        if label.valid[a] and label.valid[b]:
            cv2.line(hand, tuple(pts[a]), tuple(pts[b]), 1, width, cv2.LINE_8, shift=shift)
    palm = [i for i in PALM_POLYGON if label.valid[i]]
    if len(palm) >= 3:
        cv2.fillPoly(hand, [cv2.convexHull(pts[palm])], 1, cv2.LINE_8, shift=shift)
    if mesh_uv is not None and faces is not None:
        tri = np.round(mesh_uv[np.asarray(faces)] * (1 << shift)).astype(np.int32)  # [F, 3, 2]
        cv2.fillPoly(hand, list(tri), 1, cv2.LINE_8, shift=shift)
    alpha = hand.astype(np.float32)
    if label.valid[[WRIST, MIDDLE_MCP, INDEX_MCP, PINKY_MCP]].all():
        wrist = kp[WRIST].astype(np.float64)
        axis = wrist - kp[MIDDLE_MCP]
        length = float(np.linalg.norm(axis))
        if length > 1.0:
            axis /= length
            half = 0.5 * max(float(np.linalg.norm(kp[INDEX_MCP] - kp[PINKY_MCP])), 0.5 * length)
            normal = np.array([-axis[1], axis[0]])
            reach = config.forearm_length * length
            steps = 8
            for k in range(steps):  # a fading stack of quads along the forearm
                a0, a1 = k / steps * reach, (k + 1) / steps * reach
                quad = np.array([wrist + axis * a0 + normal * half, wrist + axis * a1 + normal * half,
                                 wrist + axis * a1 - normal * half, wrist + axis * a0 - normal * half])
                layer = np.zeros((h, w), np.uint8)
                cv2.fillConvexPoly(layer, np.round(quad * (1 << shift)).astype(np.int32), 1, cv2.LINE_8, shift=shift)
                alpha = np.maximum(alpha, layer * (1.0 - (k + 0.5) / steps))
    sigma = max(0.5, config.feather * size)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
    return np.round(np.clip(alpha, 0.0, 1.0) * 255).astype(np.uint8), hand.astype(bool)


def _similarity(scale: float, theta: float, flip: bool, src_centre, dst_centre) -> np.ndarray:
    """2x3 corner-origin affine: mirror about ``src_centre`` (if ``flip``), scale, rotate, move to ``dst_centre``."""
    c, s = math.cos(theta), math.sin(theta)
    L = scale * np.array([[c, -s], [s, c]]) @ (np.diag([-1.0, 1.0]) if flip else np.eye(2))
    t = np.asarray(dst_centre, np.float64) - L @ np.asarray(src_centre, np.float64)
    return np.concatenate([L, t[:, None]], axis=1)


def _warp(image: np.ndarray, affine: np.ndarray, size: tuple[int, int], interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``cv2.warpAffine`` of a corner-origin affine (OpenCV samples at pixel centres)."""
    L, t = affine[:, :2], affine[:, 2]
    M = np.concatenate([L, (t + L @ [0.5, 0.5] - 0.5)[:, None]], axis=1)
    return cv2.warpAffine(image, M, size, flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class ComposedHands(torch.utils.data.Dataset):
    """Map-style dataset of composed multi-hand images (see the module docstring).

    Args:
        donors: labelled datasets (sequences of :class:`Sample`, e.g.
            :class:`~hand_mesh_core.data.readers.PseudoLabelReader`) whose hands are pasted.
            A hand is a donor when all its 21 keypoints are valid and inside its image and
            its size is at least ``min_donor_size``.
        config: :class:`CompositionConfig`; **overrides replace its fields.

    ``dataset[i]`` is a :class:`Sample` with ``image``, ``K`` and a label per hand
    (``all_hands_labelled`` True). Raises ``ValueError`` for invalid settings or when the
    donors hold no usable hand.
    """

    def __init__(self, donors: Sequence[Sequence[Sample]], config: CompositionConfig | None = None, **overrides) -> None:
        self.config = dataclasses.replace(config or CompositionConfig(), **overrides)
        self.config.validate()
        self.sources = list(donors)
        self.donors: list[Donor] = []
        self.bases: list[tuple[int, int]] = []
        for s, source in enumerate(self.sources):
            for i in range(len(source)):
                sample = source[i]
                if sample.hands:
                    self.bases.append((s, i))
                size = sample.image_size
                for j, hand in enumerate(sample.hands):
                    inside = size is None or visible_in_image(hand.keypoints_2d, size).all()
                    if hand.valid.all() and inside and hand.box_size() >= self.config.min_donor_size:
                        self.donors.append(Donor(s, i, j, hand.box_size()))
        if not self.donors:
            raise ValueError("no usable donor hand (need 21 valid keypoints inside the image and "
                             f"a size >= {self.config.min_donor_size} px)")
        self.backgrounds = BackgroundSource(self.config.background_folders or [], self.config.photo_probability)
        self._models = None

    def __len__(self) -> int:
        return self.config.length

    @property
    def models(self) -> dict:
        """``{"left", "right"}`` open/MANO hand models for mesh silhouettes (built on first use)."""
        if self._models is None:
            from hand_mesh_core.hand_model import HandModel

            self._models = {s: HandModel(s).eval() for s in ("left", "right")}
        return self._models

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - per-instance cache of decoded donors is intended
    def _donor(self, donor: Donor) -> tuple[np.ndarray, HandLabel, np.ndarray, np.ndarray, np.ndarray]:
        """Donor crop ``[h, w, 3]``, its label in crop pixels, alpha (uint8), hand mask, crop origin.

        Cached (about 0.3 MB per donor hand), since decoding, posing the mesh and drawing
        the mask cost tens of milliseconds."""
        sample = self.sources[donor.source][donor.sample]
        label = sample.hands[donor.hand]
        image = sample.load_image()
        H, W = image.shape[:2]
        x0, y0, x1, y1 = label.box()
        side = max(x1 - x0, y1 - y0)
        m = 0.45 * side  # room for the forearm stub and feathering
        cx0, cy0 = int(max(0, math.floor(x0 - m))), int(max(0, math.floor(y0 - m)))
        cx1, cy1 = int(min(W, math.ceil(x1 + m))), int(min(H, math.ceil(y1 + m)))
        origin = np.array([cx0, cy0], np.float64)
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        moved = dataclasses.replace(label, keypoints_2d=(label.keypoints_2d - origin).astype(np.float32),
                                    bbox=None if label.bbox is None else (label.bbox - np.tile(origin, 2)).astype(np.float32),
                                    mask=None, mask_path=None)
        mesh_uv = faces = None
        if label.pose is not None and label.shape is not None and label.transl is not None and sample.K is not None \
                and label.handedness is not None:
            model = self.models[label.handedness]
            with torch.no_grad():
                out = model(betas=torch.from_numpy(label.shape)[None], global_orient=torch.from_numpy(label.pose[:3])[None],
                            hand_pose=torch.from_numpy(label.pose[3:])[None], transl=torch.from_numpy(label.transl)[None])
            verts = out.vertices[0].double().numpy()
            if (verts[:, 2] > 0.01).all():
                mesh_uv = project_np(verts, sample.K) - origin
                faces = model.faces.numpy()
        alpha, hand = hand_paste_mask(moved, (crop.shape[1], crop.shape[0]), self.config, mesh_uv, faces)
        return crop, moved, alpha, hand, origin

    def _canvas(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[HandLabel], list[np.ndarray]]:
        """Background image, its K, and the labels (with masks) of a base image's hands."""
        cfg = self.config
        w, h = cfg.image_size
        if self.bases and rng.uniform() < cfg.base_probability:
            s, i = self.bases[rng.integers(len(self.bases))]
            sample = self.sources[s][i]
            image = sample.load_image()
            H, W = image.shape[:2]
            K = sample.K if sample.K is not None else intrinsics_from_fov(W, H)
            scale = max(w / W, h / H) * rng.uniform(1.0, 1.3)
            tx = rng.uniform(w - W * scale, 0.0)
            ty = rng.uniform(h - H * scale, 0.0)
            affine = np.array([[scale, 0.0, tx], [0.0, scale, ty]])
            canvas = _warp(image, affine, (w, h), cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            K_c, T, _ = camera_transform(affine, K)
            labels = []
            for hand in sample.hands:
                kp = hand.keypoints_2d.astype(np.float64) @ affine[:, :2].T + affine[:, 2]
                moved = transform_hand(hand, affine, T, False, kp, (w, h), None)
                if moved.visibility.any():
                    labels.append(moved)
            return canvas, K_c, labels, [None] * len(labels)  # a base hand's silhouette is unknown
        f = (w / 2.0) / math.tan(math.radians(rng.uniform(*cfg.hfov_deg)) / 2.0)
        K_c = np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])
        return self.backgrounds(rng, (w, h)), K_c, [], []

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples")
        index %= n
        cfg = self.config
        rng = np.random.default_rng((cfg.seed, index))
        w, h = cfg.image_size
        canvas, K_c, labels, hand_masks = self._canvas(rng)
        canvas = canvas.astype(np.float32)
        weights = np.asarray(cfg.hand_count_weights, np.float64)
        count = int(rng.choice(len(weights), p=weights / weights.sum()))
        alphas: list[np.ndarray | None] = [None] * len(labels)
        for _ in range(count):
            self._paste(rng, canvas, K_c, labels, hand_masks, alphas)
        hands = []
        for label, mask in zip(labels, hand_masks):
            hands.append(dataclasses.replace(label, mask=mask) if mask is not None else label)
        return Sample(hands=hands, image=np.clip(canvas, 0, 255).astype(np.uint8), K=K_c, all_hands_labelled=True,
                      dataset="composed", sample_id=f"composed_{cfg.seed}_{index}")

    def _paste(self, rng, canvas, K_c, labels, hand_masks, alphas) -> None:
        cfg = self.config
        w, h = cfg.image_size
        donor = self.donors[rng.integers(len(self.donors))]
        crop, label, alpha, hand_mask, origin = self._donor(donor)
        lo, hi = cfg.hand_size
        target = math.exp(rng.uniform(math.log(lo), math.log(hi))) * min(w, h)
        zoom = target / donor.size
        theta = math.radians(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
        flip = bool(rng.uniform() < cfg.flip_probability)
        src_centre = label.keypoints_2d.mean(axis=0)
        for _ in range(10):
            dst = rng.uniform([0.0, 0.0], [w, h])
            affine = _similarity(zoom, theta, flip, src_centre, dst)
            kp = label.keypoints_2d.astype(np.float64) @ affine[:, :2].T + affine[:, 2]
            box = np.concatenate([kp.min(axis=0), kp.max(axis=0)])
            if all(box_iou(box, other.box()) <= cfg.max_overlap_iou for other in labels):
                break
        else:
            return
        # work in the window the pasted crop covers
        ch, cw = crop.shape[:2]
        corners = np.array([[0, 0], [cw, 0], [0, ch], [cw, ch]], np.float64) @ affine[:, :2].T + affine[:, 2]
        x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [w, h])
        x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int), 0, [w, h])
        if x1 <= x0 or y1 <= y0:
            return
        local = affine.copy()
        local[:, 2] -= [x0, y0]
        win = (int(x1 - x0), int(y1 - y0))
        a = _warp(alpha, local, win).astype(np.float32) / 255.0
        if float(a.max()) <= 0.0:
            return
        # occlusion of the earlier hands: undo the paste if one would be left nearly hidden
        new_vis = []
        for other in labels:
            uv = np.floor(other.keypoints_2d).astype(int) - [x0, y0]
            inside = (uv[:, 0] >= 0) & (uv[:, 0] < win[0]) & (uv[:, 1] >= 0) & (uv[:, 1] < win[1])
            covered = np.zeros(21, bool)
            covered[inside] = a[uv[inside, 1], uv[inside, 0]] > 0.5
            vis = other.visibility & ~covered
            if int(vis.sum()) < min(cfg.min_visible_keypoints, int(other.visibility.sum())):
                return
            new_vis.append(vis)
        pixels = _warp(crop, local, win).astype(np.float32) * rng.uniform(*cfg.colour_gain, 3).astype(np.float32)
        region = canvas[y0:y1, x0:x1]
        region += a[..., None] * (pixels - region)
        for k, vis in enumerate(new_vis):
            labels[k] = dataclasses.replace(labels[k], visibility=vis)
            if hand_masks[k] is not None:
                hand_masks[k][y0:y1, x0:x1] &= ~(a > 0.5)
        mask = np.zeros((h, w), bool)
        mask[y0:y1, x0:x1] = _warp(hand_mask.astype(np.uint8), local, win, cv2.INTER_NEAREST).astype(bool)
        labels.append(self._pasted_label(label, affine, donor, origin, K_c, flip, zoom, kp))
        hand_masks.append(mask)

    def _pasted_label(self, label: HandLabel, affine, donor: Donor, origin, K_c, flip, zoom, kp) -> HandLabel:
        """Label of a pasted hand on the canvas (2D exact, 3D approximate: module docstring)."""
        w, h = self.config.image_size
        K_d = self.sources[donor.source][donor.sample].K
        if label.keypoints_3d is None or K_d is None:  # 2D only: the 3D transform is irrelevant
            bare = dataclasses.replace(label, keypoints_3d=None, pose=None, transl=None)
            return transform_hand(bare, affine, np.eye(3), flip, kp, (w, h), None)
        # the donor crop's camera: K_d with the principal point moved by the crop origin
        K_crop = K_d.copy()
        K_crop[:2, 2] -= origin
        _, T, _ = camera_transform(affine, K_crop)
        moved = transform_hand(label, affine, T, flip, kp, (w, h), None)
        wrist_old = T @ label.keypoints_3d[0].astype(np.float64)
        f_d = math.sqrt(K_d[0, 0] * K_d[1, 1])
        f_c = math.sqrt(K_c[0, 0] * K_c[1, 1])
        z = float(label.keypoints_3d[0, 2]) * (f_c / f_d) / zoom
        u, v = kp[WRIST]
        wrist_new = np.array([(u - K_c[0, 2]) / K_c[0, 0] * z, (v - K_c[1, 2]) / K_c[1, 1] * z, z])
        shift = (wrist_new - wrist_old).astype(np.float32)
        return dataclasses.replace(
            moved,
            keypoints_3d=moved.keypoints_3d + shift,
            transl=None if moved.transl is None else moved.transl + shift,
        )


__all__ = ["CompositionConfig", "ComposedHands", "Donor", "hand_paste_mask"]
