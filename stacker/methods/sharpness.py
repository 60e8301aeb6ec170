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


def encode(norm: float) -> int:
    """A norm → its code, log scale: 1 for a norm ≤ 1 (0 stays free for "nothing yet")."""
    return int(np.clip(np.rint(CODES_PER_OCTAVE * np.log2(max(norm, 1.0))) + 1, 1, 255))


def _pooled(power: np.ndarray, box: int) -> np.ndarray:
    """Two passes of a ``box``-wide mean (a triangle kernel)."""
    once = cv2.blur(power, (box, box), borderType=cv2.BORDER_REFLECT101)
    return cv2.blur(once, (box, box), borderType=cv2.BORDER_REFLECT101)


# Codes straight from a float's bits (cv2.log took most of the time): the sign, exponent
# and top four mantissa bits of a float32 index 1/16-octave buckets, each mapped to the
# code of its middle — 16/p codes per octave of a pooled p-th power.
_BUCKET_SHIFT = 19


def _code_table(p: int) -> np.ndarray:
    starts = np.arange(1 << (32 - _BUCKET_SHIFT), dtype=np.uint32) << _BUCKET_SHIFT
    with np.errstate(invalid="ignore", over="ignore"):  # the top buckets are inf and NaN
        middles = (starts | (1 << (_BUCKET_SHIFT - 1))).view(np.float32).astype(np.float64)
        codes = np.rint(CODES_PER_OCTAVE / p * np.log2(np.maximum(middles, 1.0))) + 1.0
    return np.clip(np.nan_to_num(codes, nan=1.0, posinf=255.0), 1, 255).astype(np.uint8)


_CODES = {2: _code_table(2), 4: _code_table(4)}


def _codes(pooled: np.ndarray, p: int) -> np.ndarray:
    """uint8 codes of the Lp norms whose p-th powers are ``pooled`` (≥ 0, float32)."""
    return np.take(_CODES[p], pooled.view(np.uint32) >> _BUCKET_SHIFT)


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
    l4 = _codes(_pooled(p4, WIDE.box(width)), 4)
    l2 = _codes(_pooled(p2, MIDDLE.box(width)), 2)
    wide = cv2.addWeighted(l4, _L4_SHARE, l2, 1.0 - _L4_SHARE, 0.0)
    narrow = _codes(_pooled(p4, NARROW.box(width)), 4)
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
            self.wide = encode(l4**_L4_SHARE * sigma ** (1.0 - _L4_SHARE))
            self.narrow = encode(l4)
        self._medians = []
