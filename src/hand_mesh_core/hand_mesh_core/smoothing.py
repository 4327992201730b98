"""Temporal smoothing of tracked hands: the One-Euro filter on the hand-model parameters.

:class:`OneEuroFilter` is the filter of Casiez, Roussel & Vogel, "1 Euro filter: a simple
speed-based low-pass filter for noisy input in interactive systems", CHI 2012 (their
Algorithm 1), applied element-wise to an array. For a sample ``x_i`` at time ``t_i``
(``dt = t_i - t_{i-1}``):

    alpha(fc)  = 1 / (1 + tau / dt),   tau = 1 / (2 pi fc)          smoothing factor
    dx_i       = (x_i - xhat_{i-1}) / dt                            speed
    dxhat_i    = alpha(d_cutoff) dx_i + (1 - alpha(d_cutoff)) dxhat_{i-1}
    fc_i       = min_cutoff + beta |dxhat_i|                        adaptive cutoff (Hz)
    xhat_i     = alpha(fc_i) x_i + (1 - alpha(fc_i)) xhat_{i-1}

with ``xhat_0 = x_0`` and ``dxhat_0 = 0``. Slow signals are low-passed at ``min_cutoff``
(jitter removed); fast ones get a higher cutoff (little lag).

:class:`HandSmoother` filters each tracked hand's *parameters* and rebuilds the hand from
them, rather than filtering keypoints and vertices point by point: every smoothed result
is still a hand of the model, and its fields stay consistent exactly as the backends make
them (``vertices`` and ``keypoints_3d`` = ``HandModel(pose, shape, transl)``,
``keypoints_2d`` = their projection through ``K``, ``bbox`` = the box of the projected
vertices). Per hand, 64 numbers are filtered:

* ``transl`` (3, metres);
* the global orientation as the first two columns of its rotation matrix (6; the
  continuous representation of Zhou et al., CVPR 2019: no wrap-around at pi as with
  axis-angles), re-orthonormalised by Gram-Schmidt after filtering;
* ``hand_pose`` (45 axis-angle numbers, radians; joint rotations stay well inside
  ``(-pi, pi)`` within the joint limits, so they are filtered as they are);
* ``betas`` (10), with ``beta = 0``: the shape of a hand does not move, it is low-passed at
  ``min_cutoff``.

One ``beta`` serves all of them because each element's speed is first expressed as the
speed of the hand's surface in metres per second: translation as it is, the rotation
columns times :data:`HAND_LEVER_M` (a point 10 cm from the wrist), the joint angles times
:data:`FINGER_LEVER_M` (a phalanx). ``beta`` is therefore in Hz per (m/s).

A track whose handedness changes starts a new filter (left and right parameters are not
comparable). Time comes from the frames' timestamps, not from a fixed rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from hand_mesh_core.results import HandResult, posed_hand_result

#: Lever arm (metres) turning the speed of the rotation-matrix columns (rad/s) into m/s.
HAND_LEVER_M = 0.1
#: Lever arm (metres) turning joint angular speeds (rad/s) into m/s.
FINGER_LEVER_M = 0.03

#: Default minimum cutoff (Hz) of the hand smoother.
DEFAULT_MIN_CUTOFF = 1.0
#: Default speed coefficient (Hz per m/s) of the hand smoother.
DEFAULT_BETA = 20.0
#: Default cutoff (Hz) of the speed estimate.
DEFAULT_D_CUTOFF = 1.0


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """``alpha = 1 / (1 + tau / dt)``, ``tau = 1 / (2 pi cutoff)`` (Casiez et al. 2012).

    ``cutoff`` in Hz (> 0, scalar or array), ``dt`` in seconds (> 0). Returns alpha in (0, 1).
    """
    r = 2.0 * math.pi * np.asarray(cutoff, dtype=np.float64) * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """The One-Euro filter (module docstring), element-wise on arrays of a fixed shape.

    Args:
        min_cutoff: minimum cutoff frequency in Hz (> 0).
        beta: speed coefficient, Hz per (unit of x per second), >= 0; a scalar or an array
            broadcastable to the samples (one coefficient per element).
        d_cutoff: cutoff frequency of the speed estimate in Hz (> 0).

    Raises ``ValueError`` for parameters out of range.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float | np.ndarray = 0.0, d_cutoff: float = 1.0) -> None:
        self.configure(min_cutoff, beta, d_cutoff)
        self.reset()

    def configure(self, min_cutoff: float, beta: float | np.ndarray, d_cutoff: float) -> None:
        """Change the parameters (the state is kept). Same checks as the constructor."""
        if not (np.isfinite(min_cutoff) and min_cutoff > 0 and np.isfinite(d_cutoff) and d_cutoff > 0):
            raise ValueError(f"min_cutoff and d_cutoff must be finite and > 0 Hz, got {min_cutoff!r}, {d_cutoff!r}")
        beta = np.asarray(beta, dtype=np.float64)
        if not np.isfinite(beta).all() or (beta < 0).any():
            raise ValueError(f"beta must be finite and >= 0, got {beta}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), beta, float(d_cutoff)

    def reset(self) -> None:
        """Forget the signal: the next sample is passed through unchanged."""
        self.value: np.ndarray | None = None  # xhat, last output
        self.speed: np.ndarray | None = None  # dxhat, filtered speed (units per second)
        self.cutoff: np.ndarray | None = None  # fc used for the last output (Hz)
        self.time: float | None = None

    def __call__(self, x: np.ndarray | float, timestamp: float) -> np.ndarray:
        """Filter sample ``x`` taken at ``timestamp`` (seconds); returns float64 ``xhat``.

        Raises ``ValueError`` for a non-finite sample, a shape that differs from the first
        sample's, or a timestamp not after the previous one.
        """
        x = np.array(x, dtype=np.float64)
        timestamp = float(timestamp)
        if not np.isfinite(x).all() or not np.isfinite(timestamp):
            raise ValueError("sample and timestamp must be finite")
        if self.value is None:
            self.value, self.speed, self.time = x, np.zeros_like(x), timestamp
            self.cutoff = np.full_like(x, self.min_cutoff)
            return x.copy()
        if x.shape != self.value.shape:
            raise ValueError(f"sample shape {x.shape} differs from the filter's {self.value.shape}")
        dt = timestamp - self.time
        if not dt > 0:
            raise ValueError(f"timestamps must increase: {timestamp} after {self.time}")
        a_d = smoothing_factor(self.d_cutoff, dt)
        self.speed = a_d * (x - self.value) / dt + (1.0 - a_d) * self.speed
        self.cutoff = self.min_cutoff + self.beta * np.abs(self.speed)
        a = smoothing_factor(self.cutoff, dt)
        self.value = a * x + (1.0 - a) * self.value
        self.time = timestamp
        return self.value.copy()


@dataclasses.dataclass(frozen=True)
class SmoothingSettings:
    """Parameters of :class:`HandSmoother`.

    Attributes:
        min_cutoff: Hz (> 0): cutoff of a still hand; lower = smoother, more lag when it starts moving.
        beta: Hz per (m/s) (>= 0): how fast the cutoff rises with the hand's speed; higher =
            less lag on fast motion, more jitter left.
        d_cutoff: Hz (> 0): cutoff of the speed estimate.

    Raises ``ValueError`` for values out of range.
    """

    min_cutoff: float = DEFAULT_MIN_CUTOFF
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF

    def __post_init__(self) -> None:
        OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff)  # same checks


#: Per-element multiplier of ``beta`` for the 64 filtered numbers of a hand (module docstring).
_LEVERS = np.concatenate([np.ones(3), np.full(6, HAND_LEVER_M), np.full(45, FINGER_LEVER_M), np.zeros(10)])


def _pack(hand: HandResult) -> np.ndarray:
    """The 64 filtered numbers of a hand: transl, rotation columns, hand_pose, betas."""
    rot = Rotation.from_rotvec(hand.pose[:3].astype(np.float64)).as_matrix()
    return np.concatenate([hand.transl, rot[:, 0], rot[:, 1], hand.pose[3:], hand.shape]).astype(np.float64)


def _unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(transl [3], global_orient [3], hand_pose [45], betas [10])`` from 64 numbers."""
    a1, a2 = x[3:6], x[6:9]
    b1 = a1 / max(np.linalg.norm(a1), 1e-12)
    b2 = a2 - (b1 @ a2) * b1
    b2 = b2 / max(np.linalg.norm(b2), 1e-12)
    rot = np.stack([b1, b2, np.cross(b1, b2)], axis=1)
    return x[:3], Rotation.from_matrix(rot).as_rotvec(), x[9:54], x[54:64]


class HandSmoother:
    """One-Euro smoothing of tracked hands, rebuilt with the hand model (module docstring).

    Args:
        settings: :class:`SmoothingSettings` (defaults when None).
    """

    def __init__(self, settings: SmoothingSettings | None = None) -> None:
        self._settings = settings or SmoothingSettings()
        self._filters: dict[int, tuple[str, OneEuroFilter]] = {}

    @property
    def settings(self) -> SmoothingSettings:
        """Current parameters; assigning new ones applies them to the running filters too."""
        return self._settings

    @settings.setter
    def settings(self, value: SmoothingSettings) -> None:
        self._settings = value
        for _, f in self._filters.values():
            f.configure(value.min_cutoff, value.beta * _LEVERS, value.d_cutoff)

    def reset(self) -> None:
        """Forget every hand (a new stream)."""
        self._filters = {}

    def retain(self, track_ids: set[int]) -> None:
        """Drop the filters of tracks not in ``track_ids`` (tracks that expired)."""
        self._filters = {k: v for k, v in self._filters.items() if k in track_ids}

    def __call__(
        self,
        hands: Sequence[HandResult],
        K: np.ndarray,
        image_size: tuple[int, int],
        hand_models: Mapping[str, Any],
        timestamp: float,
    ) -> list[HandResult]:
        """The smoothed hands of one frame, in the same order.

        Args:
            hands: this frame's hands; each with ``track_id >= 1`` is smoothed with its
                track's filter, ``track_id == 0`` passes through unchanged.
            K: ``3x3`` intrinsics (pixels) of the frame: the 2D fields are the projection of
                the smoothed 3D keypoints / vertices through it.
            image_size: ``(width, height)`` pixels: the box is clipped to the image.
            hand_models: ``{"left": HandModel, "right": HandModel}`` that made the hands.
            timestamp: seconds of the frame; must increase from call to call for a track.

        Returns:
            New :class:`HandResult` objects (the inputs are not modified). Raises
            ``ValueError`` for a timestamp that does not increase.
        """
        import torch

        out = list(hands)
        todo: dict[str, list[tuple[int, np.ndarray]]] = {"left": [], "right": []}
        for n, hand in enumerate(hands):
            if hand.track_id == 0:
                continue
            side, filt = self._filters.get(hand.track_id, (None, None))
            if filt is None or side != hand.handedness:
                s = self._settings
                filt = OneEuroFilter(s.min_cutoff, s.beta * _LEVERS, s.d_cutoff)
                self._filters[hand.track_id] = (hand.handedness, filt)
            todo[hand.handedness].append((n, filt(_pack(hand), timestamp)))
        for side, items in todo.items():
            if not items:
                continue
            model = hand_models[side]
            parts = [_unpack(x) for _, x in items]
            ref = next(b for b in model.buffers() if b.is_floating_point())

            def stack(k: int) -> torch.Tensor:
                return torch.as_tensor(np.stack([p[k] for p in parts]), dtype=ref.dtype, device=ref.device)

            with torch.inference_mode():
                res = model(betas=stack(3), global_orient=stack(1), hand_pose=stack(2), transl=stack(0))
            vertices = res.vertices.float().cpu().numpy()
            keypoints = res.keypoints.float().cpu().numpy()
            for k, (n, _) in enumerate(items):
                hand = hands[n]
                transl, orient, pose, betas = parts[k]
                out[n] = posed_hand_result(
                    handedness=hand.handedness, handedness_score=hand.handedness_score, score=hand.score,
                    keypoints_3d=keypoints[k], vertices=vertices[k] if len(hand.vertices) else hand.vertices,
                    pose=np.concatenate([orient, pose]), shape=betas, transl=transl, K=K,
                    image_size=image_size, keypoint_scores=hand.keypoint_scores, track_id=hand.track_id,
                )
        return out


__all__ = [
    "OneEuroFilter",
    "HandSmoother",
    "SmoothingSettings",
    "smoothing_factor",
    "HAND_LEVER_M",
    "FINGER_LEVER_M",
    "DEFAULT_MIN_CUTOFF",
    "DEFAULT_BETA",
    "DEFAULT_D_CUTOFF",
]
