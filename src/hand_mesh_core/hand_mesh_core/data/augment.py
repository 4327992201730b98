"""From a labelled :class:`Sample` to a network input: letterbox, augmentation, labels moved along.

Geometry (one path for training and evaluation):

1. letterbox the image into a square canvas with the library's own
   :func:`~hand_mesh_core.network.letterbox.letterbox_image` (exactly the predictor's
   preprocessing); without augmentation the canvas is the network input;
2. with augmentation, the canvas is ``zoom_headroom`` times the input size, and
   Albumentations' ``Affine`` (zoom, rotation about the centre, translation) followed by a
   ``CenterCrop`` to the input size zooms in without upsampling beyond the letterbox and
   zooms out down to ``zoom[0]``; then ``HorizontalFlip``. With ``hand_size`` set (ours),
   the zoom and shift are chosen per sample instead so that one randomly chosen labelled
   hand becomes a hand of a size drawn log-uniformly from that range (pixels of the
   network input) at a random place, which gives every source the same spread of hand
   sizes, from hands filling the input to hands of a few tens of pixels
   (:meth:`SampleTransform.hand_size_zoom`);
3. photometric Albumentations transforms on the result: colour jitter, grey, Gaussian or
   motion blur, Gaussian noise, JPEG compression.

Keypoints go through the same Albumentations calls. Albumentations moves keypoints of its
``Affine`` and flips in pixel-*centre* coordinates (flip: ``x -> W - 1 - x``; checked against
the warped image), so the library's corner-origin pixels are shifted by half a pixel
around those calls, which makes labels and pixels agree exactly.

Three reference points ride along with the keypoints; from their images the whole map
original -> network pixels is recovered as a 2x3 affine ``A = [L | t]`` (``det L < 0`` when
flipped). The labels' 3D quantities and the intrinsics follow from it (square pixels,
derivation in :func:`camera_transform`):

* ``L = s R(theta) F`` with ``F = diag(-1, 1)`` when flipped; the 3D scene is transformed by
  ``T = Rz(theta) M`` (``M = diag(-1, 1, 1)`` when flipped: a mirror image is a mirrored
  world, the hand changes side), and ``K_net = [[s fx, 0, c'x], [0, s fy, c'y], [0, 0, 1]]``
  with ``c' = L c + t``; exact when ``fx = fy`` or ``theta = 0``;
* ``keypoints_3d -> T X``; ``pose``: mirrored when flipped
  (:func:`hand_mesh_core.hand_model.mirror_pose`), then ``global_orient -> Rz * global_orient``;
  ``transl``: the wrist ``W = keypoints_3d[0]`` is the model's wrist joint ``j0 + transl``
  (``global_orient`` rotates about ``j0``), so ``transl' = T W - M (W - transl)`` (the left
  and right models are exact mirrors, ``j0`` of the mirrored hand is ``M j0``);
* handedness swaps when flipped; ``visibility`` is restricted to the new image; hands with
  fewer than ``min_visible_keypoints`` visible keypoints after the transform are dropped
  (except where no keypoint was visible to start with, e.g. box-only labels);
* masks are letterboxed (nearest) and go through the same Albumentations calls.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from hand_mesh_core.data.sample import HandLabel, Sample, visible_in_image
from hand_mesh_core.hand_model import mirror_pose
from hand_mesh_core.network.letterbox import PAD_VALUE, fit_letterbox, letterbox_image

#: Three reference points (original pixels, relative to the image size) tracked to recover A.
_REFERENCE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
_MIRROR = np.diag([-1.0, 1.0, 1.0])


@dataclasses.dataclass
class AugmentConfig:
    """Augmentation settings (plain values, so OmegaConf can build it).

    Attributes:
        enabled: False = letterbox only (evaluation).
        zoom: range of the zoom relative to the plain letterbox (uniform; Albumentations'
            ``balanced_scale`` is not used: it assumes a range around 1, which the absolute
            scale ``zoom / zoom_headroom`` is not).
        zoom_headroom: canvas side / input side for the zoomed letterbox (>= zoom[1] avoids
            upsampling beyond the letterbox resolution).
        rotate_deg: rotation drawn uniformly in ``+-rotate_deg``.
        translate: shift drawn uniformly in ``+-translate`` of the canvas side, per axis.
        flip_probability: horizontal flip (left/right label swap).
        colour_probability, brightness, contrast, saturation, hue: ``ColorJitter``.
        gray_probability: ``ToGray``.
        blur_probability: Gaussian or motion blur.
        noise_probability: Gaussian noise; jpeg_probability: JPEG compression.
        min_visible_keypoints: hands with fewer visible keypoints after the transform are dropped.
        hand_size: ``(min, max)`` pixels of the network input, or None: the size
            (largest side of the labelled keypoints' box) one labelled hand is zoomed to,
            drawn log-uniformly; replaces ``zoom`` and ``translate`` for samples with a
            labelled hand (ours; see the module docstring).
        max_upsample: with ``hand_size``, the zoom never enlarges the original image by
            more than this factor (a hand is not blown up beyond its own resolution).
    """

    enabled: bool = True
    zoom: tuple[float, float] = (0.6, 1.8)
    zoom_headroom: float = 2.0
    rotate_deg: float = 30.0
    translate: float = 0.2
    flip_probability: float = 0.5
    colour_probability: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.04
    gray_probability: float = 0.05
    blur_probability: float = 0.2
    noise_probability: float = 0.2
    jpeg_probability: float = 0.2
    min_visible_keypoints: int = 3
    hand_size: tuple[float, float] | None = None
    max_upsample: float = 2.0

    def validate(self) -> None:
        """Raise ``ValueError`` for out-of-range values."""
        if self.hand_size is not None:
            self.hand_size = tuple(float(v) for v in self.hand_size)
            if len(self.hand_size) != 2 or not 0.0 < self.hand_size[0] <= self.hand_size[1]:
                raise ValueError(f"hand_size must be an increasing positive (min, max), got {self.hand_size}")
        if self.max_upsample <= 0.0:
            raise ValueError(f"max_upsample must be > 0, got {self.max_upsample}")
        if not 0.0 < self.zoom[0] <= self.zoom[1] or self.zoom_headroom < 1.0:
            raise ValueError(f"zoom must be an increasing positive range and zoom_headroom >= 1, got "
                             f"{self.zoom}, {self.zoom_headroom}")
        if self.rotate_deg < 0 or not 0.0 <= self.translate <= 1.0:
            raise ValueError("rotate_deg must be >= 0 and translate in [0, 1]")
        for name in ("flip_probability", "colour_probability", "gray_probability", "blur_probability",
                     "noise_probability", "jpeg_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


@dataclasses.dataclass
class NetworkSample:
    """A sample in network-input pixels.

    Attributes:
        image: ``S x S x 3 uint8`` RGB.
        K: float64 ``[3, 3]`` intrinsics of the network input (pixels).
        hands: :class:`HandLabel` list, 2D in network pixels, 3D in the transformed camera frame.
        affine: float64 ``[2, 3]`` map from original to network pixels (``det < 0`` = flipped).
        flipped: the image was mirrored (sides of the labels swapped).
        all_hands_labelled, dataset, sample_id: copied from the :class:`Sample`.
    """

    image: np.ndarray
    K: np.ndarray
    hands: list[HandLabel]
    affine: np.ndarray
    flipped: bool
    all_hands_labelled: bool = False
    dataset: str = ""
    sample_id: str = ""


def affine_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``A`` with ``dst = A [src; 1]`` from three non-collinear point pairs."""
    src_h = np.concatenate([np.asarray(src, np.float64), np.ones((3, 1))], axis=1)  # [3, 3]
    return np.linalg.solve(src_h, np.asarray(dst, np.float64)).T


def camera_transform(affine: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Intrinsics and 3D transform of an image-plane similarity (see the module docstring).

    Derivation: with ``p = c + f (x/z, y/z)`` (square pixels) and ``p' = L p + t``,
    ``p' = (L c + t) + s f R F (x, y) / z``; so ``X' = T X`` with ``T = Rz M`` (``Rz`` the
    rotation by ``theta`` about the optical axis, ``M`` the mirror ``x -> -x`` when flipped)
    and ``K'`` has focal lengths ``s f`` and principal point ``L c + t``.

    Args:
        affine: ``[2, 3]`` original -> new pixels, a similarity possibly with a reflection.
        K: ``[3, 3]`` intrinsics of the original image.

    Returns:
        ``K_new`` ``[3, 3]``, ``T`` ``[3, 3]`` (3D transform, optical frame), ``flipped``.
        Raises ``ValueError`` when ``affine`` is singular or not a similarity (within 1%).
    """
    L, t = np.asarray(affine, np.float64)[:, :2], np.asarray(affine, np.float64)[:, 2]
    det = float(np.linalg.det(L))
    if abs(det) < 1e-12:
        raise ValueError("singular image transform")
    flipped = det < 0
    Lr = L @ np.diag([-1.0, 1.0]) if flipped else L
    s = math.sqrt(abs(float(np.linalg.det(Lr))))
    R = Lr / s
    if not np.allclose(R @ R.T, np.eye(2), atol=1e-2):
        raise ValueError(f"image transform is not a similarity: {affine.tolist()}")
    theta = math.atan2(R[1, 0], R[0, 0])
    c, sn = math.cos(theta), math.sin(theta)
    Rz = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
    T = Rz @ _MIRROR if flipped else Rz
    K = np.asarray(K, np.float64)
    centre = L @ K[:2, 2] + t
    K_new = np.array([[s * K[0, 0], 0.0, centre[0]], [0.0, s * K[1, 1], centre[1]], [0.0, 0.0, 1.0]])
    return K_new, T, flipped


def _rotvec_compose(R_left: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return (Rotation.from_matrix(R_left) * Rotation.from_rotvec(rotvec)).as_rotvec().astype(np.float32)


def transform_hand(hand: HandLabel, affine: np.ndarray, T: np.ndarray, flipped: bool, keypoints_2d: np.ndarray,
                   size: tuple[int, int], mask: np.ndarray | None) -> HandLabel:
    """The label of ``hand`` after the image map ``affine`` and 3D transform ``T``.

    ``keypoints_2d`` are the new 2D positions (as moved with the image); ``size`` ``(W, H)``
    of the new image; ``mask`` the transformed mask (or None).
    """
    side = hand.handedness
    if flipped and side is not None:
        side = "left" if side == "right" else "right"
    kp3d = pose = transl = None
    if hand.keypoints_3d is not None:
        kp3d = (hand.keypoints_3d.astype(np.float64) @ T.T).astype(np.float32)
    R = T @ _MIRROR if flipped else T  # the rotation part Rz
    if hand.pose is not None:
        pose = mirror_pose(hand.pose.copy()) if flipped else hand.pose.copy()
        pose[:3] = _rotvec_compose(R, pose[:3].astype(np.float64))
    if hand.transl is not None and hand.keypoints_3d is not None:
        wrist = hand.keypoints_3d[0].astype(np.float64)
        root = wrist - hand.transl  # j0 of the shaped template
        transl = (T @ wrist - (_MIRROR @ root if flipped else root)).astype(np.float32)
    bbox = None
    if hand.bbox is not None:
        x0, y0, x1, y1 = hand.bbox
        corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float64)
        moved = corners @ affine[:, :2].T + affine[:, 2]
        bbox = np.concatenate([moved.min(axis=0), moved.max(axis=0)]).astype(np.float32)
    visibility = hand.visibility & visible_in_image(keypoints_2d, size)
    return HandLabel(
        keypoints_2d=np.where(hand.valid[:, None], keypoints_2d, 0.0).astype(np.float32),
        valid=hand.valid, visibility=visibility, handedness=side, keypoints_3d=kp3d, pose=pose,
        shape=hand.shape, transl=transl if pose is not None else None, bbox=bbox, mask=mask,
    )


class SampleTransform:
    """Callable ``Sample -> NetworkSample`` (see the module docstring).

    Args:
        input_size: side of the square network input (pixels).
        config: :class:`AugmentConfig` (default settings when None; ``enabled=False`` =
            letterbox only).

        seed: seed of the transform's own random generators (Albumentations 2 ``Compose``
            keeps its own generators, independent of Python's and NumPy's global ones);
            None = fresh OS entropy. :meth:`set_random_seed` re-seeds it (DataLoader
            workers: :func:`hand_mesh_core.training.datamodule.seed_worker_transforms`).

    Raises ``ValueError`` for a bad size or config.
    """

    def __init__(self, input_size: int, config: AugmentConfig | None = None, seed: int | None = None) -> None:
        import albumentations as A

        if input_size < 32:
            raise ValueError(f"input_size must be >= 32, got {input_size}")
        self.size = int(input_size)
        self.config = config or AugmentConfig()
        self.config.validate()
        c = self.config
        kp = A.KeypointParams(format="xy", remove_invisible=False)
        if c.enabled:
            self.canvas = int(round(self.size * c.zoom_headroom))
            base = self.size / self.canvas
            self.geometric = A.Compose([
                A.Affine(scale=(c.zoom[0] * base, c.zoom[1] * base), rotate=(-c.rotate_deg, c.rotate_deg),
                         translate_percent=(-c.translate, c.translate), interpolation=cv2.INTER_LINEAR,
                         mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=PAD_VALUE,
                         fill_mask=0, keep_ratio=True, p=1.0),
                A.CenterCrop(self.size, self.size),
                A.HorizontalFlip(p=c.flip_probability),
            ], keypoint_params=kp)
            self.photometric = A.Compose([
                A.ColorJitter(brightness=c.brightness, contrast=c.contrast, saturation=c.saturation, hue=c.hue,
                              p=c.colour_probability),
                A.ToGray(p=c.gray_probability),
                A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=c.blur_probability),
                A.GaussNoise(std_range=(0.01, 0.04), p=c.noise_probability),
                A.ImageCompression(quality_range=(50, 95), p=c.jpeg_probability),
            ])
        else:
            self.canvas = self.size
            self.geometric = None
            self.photometric = None
        self.set_random_seed(seed)

    def set_random_seed(self, seed: int | None) -> None:
        """Re-seed the geometric and photometric generators (``seed`` and ``seed + 1``; None = OS
        entropy) and the hand-size draw (``seed + 2``)."""
        if self.geometric is not None:
            self.geometric.set_random_seed(seed)
            self.photometric.set_random_seed(None if seed is None else seed + 1)
        self._rng = np.random.default_rng(None if seed is None else seed + 2)

    def hand_size_zoom(self, hands_canvas: list[np.ndarray], canvas_scale: float):
        """The geometric transform that zooms one hand to a size drawn from ``config.hand_size``.

        Args:
            hands_canvas: per hand, its labelled keypoints ``[k, 2]`` in canvas pixels
                (hands with fewer than 2 are skipped).
            canvas_scale: canvas pixels per original pixel (the letterbox factor).

        Returns an Albumentations ``Compose`` (fixed zoom, rotation and shift, then the
        centre crop and the random flip) or None when no hand qualifies. The hand's centre
        (its keypoint box's middle) is put uniformly where the hand stays inside the input
        (at the input's middle for a hand as large as the input). Albumentations' ``Affine``
        maps ``p -> c + s R(-theta) (p - c) + t`` about the canvas centre ``c`` (image axes,
        y down; checked on keypoints), so ``t`` follows from the wanted position.
        """
        import albumentations as A

        c = self.config
        candidates = [k for k in hands_canvas if len(k) >= 2]
        if not candidates:
            return None
        k = candidates[int(self._rng.integers(len(candidates)))]
        lo, hi = k.min(axis=0), k.max(axis=0)
        size_now = float(max(hi - lo))
        if size_now < 1.0:
            return None
        target = float(np.exp(self._rng.uniform(np.log(c.hand_size[0]), np.log(c.hand_size[1]))))
        zoom = min(target / size_now, c.max_upsample / max(canvas_scale, 1e-9))
        theta = float(self._rng.uniform(-c.rotate_deg, c.rotate_deg))
        size_after = zoom * size_now
        room = max(0.0, 0.5 * (self.size - size_after))
        goal = 0.5 * self.size + self._rng.uniform(-room, room, size=2)
        centre = 0.5 * self.canvas
        r = math.radians(-theta)
        rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])
        moved = centre + zoom * rot @ (0.5 * (lo + hi) - centre)
        t = goal + 0.5 * (self.canvas - self.size) - moved
        kp = A.KeypointParams(format="xy", remove_invisible=False)
        return A.Compose([
            A.Affine(scale=(zoom, zoom), rotate=(theta, theta),
                     translate_px={"x": (float(t[0]), float(t[0])), "y": (float(t[1]), float(t[1]))},
                     interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                     border_mode=cv2.BORDER_CONSTANT, fill=PAD_VALUE, fill_mask=0, keep_ratio=True, p=1.0),
            A.CenterCrop(self.size, self.size),
            A.HorizontalFlip(p=c.flip_probability),
        ], keypoint_params=kp, seed=int(self._rng.integers(2**31)))

    def __call__(self, sample: Sample) -> NetworkSample:
        from hand_mesh_core.camera import intrinsics_from_fov

        image = sample.load_image()
        h, w = image.shape[:2]
        K = sample.K if sample.K is not None else intrinsics_from_fov(w, h)
        canvas, box = letterbox_image(image, self.canvas)
        masks = [hand.load_mask((w, h)) for hand in sample.hands]
        masks = [None if m is None else _letterbox_mask(m, self.canvas) for m in masks]
        ref = _REFERENCE * [w, h]
        points = [box.to_network(hand.keypoints_2d) for hand in sample.hands] + [box.to_network(ref)]
        points = np.concatenate(points, axis=0) if points else np.zeros((0, 2))
        mask_list = [m for m in masks if m is not None]
        if self.geometric is not None:
            geometric = self.geometric
            if self.config.hand_size is not None:
                labelled = [box.to_network(h.keypoints_2d[h.valid]) for h in sample.hands]
                geometric = self.hand_size_zoom(labelled, float(box.scale[0])) or self.geometric
            kw = {"masks": mask_list} if mask_list else {}
            out = geometric(image=canvas, keypoints=points - 0.5, **kw)
            canvas, points = out["image"], np.asarray(out["keypoints"], np.float64)[:, :2] + 0.5
            mask_list = list(out.get("masks", mask_list))
            canvas = self.photometric(image=canvas)["image"]
        affine = affine_from_points(ref, points[-3:])
        K_net, T, flipped = camera_transform(affine, K)
        it = iter(mask_list)
        hands = []
        for i, hand in enumerate(sample.hands):
            mask = next(it).astype(bool) if masks[i] is not None else None
            moved = transform_hand(hand, affine, T, flipped, points[21 * i : 21 * (i + 1)], (self.size, self.size), mask)
            had_visible = int(hand.visibility.sum())
            need = min(self.config.min_visible_keypoints, had_visible)
            if int(moved.visibility.sum()) < need or (had_visible and not moved.visibility.any()):
                continue
            hands.append(moved)
        return NetworkSample(image=np.ascontiguousarray(canvas), K=K_net, hands=hands, affine=affine, flipped=flipped,
                             all_hands_labelled=sample.all_hands_labelled, dataset=sample.dataset,
                             sample_id=sample.sample_id)


def _letterbox_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask letterboxed like :func:`letterbox_image` (nearest), as uint8 0/1."""
    h, w = mask.shape
    box = fit_letterbox(w, h, size)
    nw, nh = round(w * box.scale[0]), round(h * box.scale[1])
    small = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
    out = np.zeros((size, size), np.uint8)
    px, py = box.pad
    out[py : py + nh, px : px + nw] = small
    return out


__all__ = ["AugmentConfig", "NetworkSample", "SampleTransform", "affine_from_points", "camera_transform",
           "transform_hand"]
