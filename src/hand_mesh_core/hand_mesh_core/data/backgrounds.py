"""Backgrounds for synthetic images: crops of real photos, or procedural textures.

Real-photo crops come from image folders read at run time by path (by default the shared
``pool/`` folder beside the checkout; nothing is copied into the repository). Caveat:
that pool is *hand* media, so a crop may show a real, unlabelled hand, which teaches a
detector to ignore hands. To make that rare, crops are small windows (a fraction of the
photo's side, :attr:`BackgroundSource.crop_fraction`) scaled up to the output, which
turns most of them into texture and clutter rather than scenes, and a crop in which more
than ``max_skin_fraction`` of the pixels have skin chromaticity (the YCrCb box
``133 <= Cr <= 173, 77 <= Cb <= 127`` of Chai & Ngan, "Face segmentation using skin-color
map", IEEE TCSVT 1999, with the Cr bound widened to 183 to catch pink-lit skin; judged
before the random colour cast) is redrawn, up to ``tries`` times, before falling back to a
procedural texture. The filter also rejects skin-coloured wood or walls; it misses hands
in colour casts it does not cover. Pass hand-free folders (``folders=...``) where
available. Procedural textures (smooth multi-octave colour noise,
stripes, checkerboards, gradients) need no files and are used when no folder has images.

Everything is drawn from a caller-supplied ``numpy.random.Generator``, so a background is
a deterministic function of the generator state.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from hand_mesh_core.media import IMAGE_SUFFIXES, load_rgb

#: Longest side (pixels) photos are reduced to when cached.
_CACHE_SIDE = 640


@functools.lru_cache(maxsize=64)
def _cached_photo(path: str) -> np.ndarray:
    img = load_rgb(path)
    s = _CACHE_SIDE / max(img.shape[:2])
    if s < 1.0:
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))), interpolation=cv2.INTER_AREA)
    return img


def skin_fraction(rgb: np.ndarray) -> float:
    """Fraction of pixels of an RGB uint8 image inside the YCrCb skin box (Chai & Ngan 1999,
    Cr bound widened from 173 to 183)."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    return float(((cr >= 133) & (cr <= 183) & (cb >= 77) & (cb <= 127)).mean())


def list_photos(folders: Sequence[str | Path]) -> list[Path]:
    """Image files (``media.IMAGE_SUFFIXES``) under ``folders``, recursively, sorted; missing folders are skipped."""
    out: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_dir():
            out += [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(out)


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), np.float32)
    amp = 1.0
    for cells in (2, 4, 8, 16, 32):
        grid = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
        img += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= rng.uniform(0.35, 0.65)
    img -= img.min(axis=(0, 1))
    img /= np.maximum(img.max(axis=(0, 1)), 1e-6)
    lo, hi = rng.uniform(0, 0.5, 3), rng.uniform(0.5, 1.0, 3)
    return lo + img * (hi - lo)


def _pattern(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6, max(8.0, max(w, h) / 3))
    c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    kind = rng.integers(3)
    t = x * np.cos(angle) + y * np.sin(angle)
    if kind == 0:  # stripes
        m = (np.sin(2 * np.pi * t / period) > 0).astype(np.float32)
    elif kind == 1:  # checkerboard
        s = -x * np.sin(angle) + y * np.cos(angle)
        m = ((np.floor(t / period) + np.floor(s / period)) % 2).astype(np.float32)
    else:  # linear gradient
        m = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return c1 * (1 - m[..., None]) + c2 * m[..., None]


def procedural_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """``H x W x 3 uint8`` RGB texture for a ``(W, H)`` image: smooth colour noise or a
    pattern (stripes, checkerboard, gradient), with mild sensor-like noise."""
    base = _smooth_noise(rng, size) if rng.uniform() < 0.6 else _pattern(rng, size)
    if rng.uniform() < 0.5:  # blend noise over patterns and vice versa
        base = 0.7 * base + 0.3 * _smooth_noise(rng, size)
    base = base + rng.normal(0, rng.uniform(0.0, 0.03), base.shape)
    return np.clip(base * 255.0, 0, 255).astype(np.uint8)


class BackgroundSource:
    """Draws backgrounds: photo crops with probability ``photo_probability`` when photos
    exist, else procedural textures.

    Args:
        folders: image folders searched recursively (default: none).
        photo_probability: chance of a photo crop when photos are available, in [0, 1].
        crop_fraction: ``(min, max)`` side of the crop window as a fraction of the
            photo's shorter side.
        max_skin_fraction: crops with more skin-coloured pixels are redrawn.
        tries: photo crops drawn before falling back to a procedural texture.

    Raises ``ValueError`` for probabilities or fractions outside (0, 1].
    """

    def __init__(
        self,
        folders: Sequence[str | Path] = (),
        photo_probability: float = 0.7,
        crop_fraction: tuple[float, float] = (0.1, 0.35),
        max_skin_fraction: float = 0.1,
        tries: int = 4,
    ) -> None:
        if not 0.0 <= photo_probability <= 1.0:
            raise ValueError(f"photo_probability must be in [0, 1], got {photo_probability}")
        if not 0.0 < crop_fraction[0] <= crop_fraction[1] <= 1.0:
            raise ValueError(f"crop_fraction must satisfy 0 < min <= max <= 1, got {crop_fraction}")
        self.photos = list_photos(folders)
        self.photo_probability = float(photo_probability)
        self.crop_fraction = crop_fraction
        self.max_skin_fraction = float(max_skin_fraction)
        self.tries = int(tries)

    def __call__(self, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
        """``H x W x 3 uint8`` RGB background for a ``(W, H)`` image."""
        if self.photos and rng.uniform() < self.photo_probability:
            for _ in range(self.tries):
                crop = self._crop(rng, size)
                if skin_fraction(crop) <= self.max_skin_fraction:  # judged in the photo's own colours
                    gain = rng.uniform(0.85, 1.15, 3)  # colour cast / exposure
                    return np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return procedural_background(rng, size)

    def _crop(self, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        photo = _cached_photo(str(self.photos[rng.integers(len(self.photos))]))
        ph, pw = photo.shape[:2]
        side = max(8, int(min(ph, pw) * rng.uniform(*self.crop_fraction)))
        cw, ch = (side, max(8, int(side * h / w))) if w >= h else (max(8, int(side * w / h)), side)
        cw, ch = min(cw, pw), min(ch, ph)
        x0, y0 = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
        crop = photo[y0 : y0 + ch, x0 : x0 + cw]
        if rng.uniform() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_LINEAR)


__all__ = ["BackgroundSource", "procedural_background", "list_photos", "skin_fraction"]
