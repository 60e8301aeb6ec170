"""Pooled sharpness of the finest band, log-encoded in a byte, and the noise floor.

Sharpness is the finest luma band's energy pooled over a neighbourhood, on the half-size
grid (level 1).  Two poolings answer two questions: a *wide* one (σ ≈ 10 px at 3 MP)
sees whether a frame is sharp around here at all — the strong, concentrated detail of
an in-focus highlight or edge outweighs the rim of the same highlight out of focus
(bokeh rings) — and a *narrow* one (σ ≈ 3 px) sees which frame is sharp right here, so a
strong texture does not win a band of its weaker neighbour beside it.  Both are mostly
L4 norms (between a mean and a max): a thin line or a small dot in focus beats the same
line or dot blurred, which spreads the same light over more pixels.  Sizes are fractions
of the frame width: defocus grows with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Pooled sharpness is kept log-encoded in one byte: 16 codes per octave (4.4 % steps).
CODES_PER_OCTAVE = 16


@dataclass(frozen=True)
class Pool:
    """A Gaussian-like neighbourhood (σ as a fraction of the frame width, with a floor
    for small frames), realised as two passes of a box filter on the half-size grid."""

    fraction: float
    min_sigma: float

    def box(self, width: int) -> int:
        """Odd box width on the half-size grid (cost is independent of it)."""
        sigma = max(self.min_sigma, self.fraction * width)
        return round(sigma * 2.45) // 2 | 1

    def reach(self, width: int) -> int:
        """How far (level-0 px) the pooling looks: the context a tile needs."""
        return 2 * self.box(width)


WIDE = Pool(10.0 / 1920, 5.0)
MIDDLE = Pool(4.0 / 1920, 2.0)
NARROW = Pool(3.0 / 1920, 1.5)


_CODE_PER_LN = CODES_PER_OCTAVE / np.log(2.0)


def encode(norm: np.ndarray) -> np.ndarray:
    """Norms → uint8 codes, log scale: 1 for a norm ≤ 1 (0 stays free for "nothing yet")."""
    return cv2.convertScaleAbs(cv2.log(cv2.max(norm, 1.0)), alpha=_CODE_PER_LN, beta=1.0)


def _log_pooled(power: np.ndarray, box: int) -> np.ndarray:
    """ln of the pooled ``power`` (two passes of a ``box``-wide mean), floored at 0: p times
    the ln of the Lp norm for the p-th power, in place of roots."""
    once = cv2.blur(power, (box, box), borderType=cv2.BORDER_REFLECT101)
    pooled = cv2.blur(once, (box, box), borderType=cv2.BORDER_REFLECT101)
    return cv2.log(cv2.max(pooled, 1.0, dst=pooled), dst=pooled)


@dataclass
class Sharpness:
    """One tile's codes on the half-size grid: ``wide`` (L4 over the wide pool with a
    fifth of L2 over the middle one, weighted geometrically) and ``narrow`` (L4)."""

    wide: np.ndarray
    narrow: np.ndarray


# The wide score is L4^0.8 · L2^0.2: pure L4 lets strong texture reach further into its
# weaker neighbour than the narrow decision can take back.
_L4_SHARE = 0.8


def sharpness(band0: np.ndarray, width: int) -> Sharpness:
    """Both scores of the finest band ``band0`` (int16, level 0) of a frame ``width`` wide."""
    power = band0.astype(np.float32)  # one full-size temporary, squared in place
    cv2.multiply(power, power, dst=power)
    p2 = cv2.pyrDown(power)  # 2×2 pooling onto the half-size grid
    cv2.multiply(power, power, dst=power)
    p4 = cv2.pyrDown(power)
    del power
    l4 = _log_pooled(p4, WIDE.box(width))
    l2 = _log_pooled(p2, MIDDLE.box(width))
    wide_ln = cv2.addWeighted(l4, _L4_SHARE / 4, l2, (1.0 - _L4_SHARE) / 2, 0.0)
    wide = cv2.convertScaleAbs(wide_ln, alpha=_CODE_PER_LN, beta=1.0)
    narrow_ln = _log_pooled(p4, NARROW.box(width))
    narrow = cv2.convertScaleAbs(narrow_ln, alpha=_CODE_PER_LN / 4, beta=1.0)
    return Sharpness(wide, narrow)


class NoiseFloor:
    """Sharpness codes below which a neighbourhood shows nothing but sensor noise.

    Measured on the first fused frame: the finest band's median absolute value in its
    quietest tiles (textured tiles overestimate) gives the noise's σ (median/0.6745);
    Gaussian noise pools to an L2 norm of σ and an L4 norm of ⁴√3 σ; times a margin."""

    MARGIN = 1.5
    PERCENTILE = 10

    def __init__(self) -> None:
        self._medians: list[float] = []
        self.wide: int | None = None
        self.narrow: int | None = None

    def observe(self, band0: np.ndarray) -> None:
        """One tile's finest band (thread-safe: list.append is atomic)."""
        sample = np.abs(band0[::2, ::2])
        if sample.size:
            self._medians.append(float(np.median(sample)))

    def settle(self) -> None:
        quiet = [m for m in self._medians if m > 0]
        if quiet:
            sigma = self.MARGIN * float(np.percentile(quiet, self.PERCENTILE)) / 0.6745
            l4 = 3**0.25 * sigma
            wide = np.array([[l4**_L4_SHARE * sigma ** (1.0 - _L4_SHARE)]], np.float32)
            self.wide = int(encode(wide)[0, 0])
            self.narrow = int(encode(np.array([[l4]], np.float32))[0, 0])
        self._medians = []
