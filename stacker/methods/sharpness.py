"""Pooled sharpness of the finest band, log-encoded in a byte, and the noise floor."""

from __future__ import annotations

import cv2
import numpy as np

# Neighbourhood over which sharpness is pooled: about this fraction of the frame width
# (σ ≈ 4 px on a 1 MP frame, 16 px at 12 MP — defocus discs grow with resolution too),
# as two passes of a box filter (a triangle kernel: cost independent of its size).
POOL_FRACTION = 4.0 / 1014
MIN_POOL_SIGMA = 4.0

# Pooled sharpness is kept log-encoded in one byte: 16 codes per octave (4.4 % steps).
_CODES_PER_OCTAVE = 16.0


def pool_box(width: int) -> int:
    """Odd box width whose double pass approximates the pooling Gaussian."""
    sigma = max(MIN_POOL_SIGMA, POOL_FRACTION * width)
    return round(sigma * 2.45) | 1


def pool_reach(width: int) -> int:
    """How far (px) pooling looks: the context a tile needs around what it owns."""
    return pool_box(width) - 1


def encode_sharpness(norm: np.ndarray) -> np.ndarray:
    code = cv2.log(norm + np.float32(1.0))
    return cv2.convertScaleAbs(code, alpha=_CODES_PER_OCTAVE / np.log(2.0), beta=1.0)


def sharpness(band0: np.ndarray, box: int) -> np.ndarray:
    """Pooled sharpness of the finest band on the half-size grid: the L4 norm over a
    neighbourhood (4th powers averaged 2×2, then two passes of a ``box``-wide mean),
    log-encoded to uint8 codes 1–255 (0 = "nothing yet")."""
    b = band0.astype(np.float32)
    power = cv2.multiply(b, b)
    power = cv2.pyrDown(cv2.multiply(power, power))
    pooled = cv2.blur(
        cv2.blur(power, (box, box), borderType=cv2.BORDER_REFLECT101),
        (box, box),
        borderType=cv2.BORDER_REFLECT101,
    )
    return encode_sharpness(cv2.sqrt(cv2.sqrt(pooled)))


class NoiseFloor:
    """Sharpness code below which a neighbourhood shows nothing but sensor noise.

    Measured on the first fused frame: the finest band's median absolute value in its
    quietest tiles (textured tiles overestimate), scaled to what the pooled L4 norm of
    Gaussian noise with that median is (⁴√3 σ, σ = median/0.6745), times a margin."""

    MARGIN = 1.5
    PERCENTILE = 10

    def __init__(self) -> None:
        self._medians: list[float] = []
        self.code: int | None = None

    def observe(self, band0: np.ndarray) -> None:
        """One tile's finest band (thread-safe: list.append is atomic)."""
        sample = np.abs(band0[::2, ::2])
        if sample.size:
            self._medians.append(float(np.median(sample)))

    def settle(self) -> None:
        quiet = [m for m in self._medians if m > 0]
        if quiet:
            sigma = float(np.percentile(quiet, self.PERCENTILE)) / 0.6745
            level = np.array([[self.MARGIN * 3.0**0.25 * sigma]], np.float32)
            self.code = int(encode_sharpness(level)[0, 0])
        self._medians = []
