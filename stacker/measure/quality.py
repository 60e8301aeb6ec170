"""Quality against ground truth: PSNR overall and in the band around depth jumps.

The band is where halos live: a fusion that lets the frame in which a foreground edge is
sharp also win the background beside it shows that background defocused there.
"""

from __future__ import annotations

import cv2
import numpy as np

# A depth jump is a step between neighbouring pixels larger than this fraction of the
# subject's depth range; the halo band reaches this far (px) either side of it.
JUMP_FRACTION = 0.05
HALO_REACH = 12
_ROWS = 256  # PSNR sums in strips: no full-size float copy of a 12 MP image


def _squared_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[float, int]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    total, count = 0.0, 0
    for y in range(0, a.shape[0], _ROWS):
        d = a[y : y + _ROWS].astype(np.float32) - b[y : y + _ROWS].astype(np.float32)
        d = d * d
        if mask is not None:
            d = d[mask[y : y + _ROWS]]
        total += float(d.sum(dtype=np.float64))
        count += d.size
    return total, count


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR (dB, 8-bit peak) of ``a`` against ``b``, over ``mask`` (H×W bool) if given."""
    total, count = _squared_error(a, b, mask)
    if count == 0:
        raise ValueError("empty mask")
    return float(10 * np.log10(255.0**2 * count / max(total, 1e-12)))


def depth_edge_band(
    depth: np.ndarray,
    depth_span: float,
    jump_fraction: float = JUMP_FRACTION,
    reach: int = HALO_REACH,
) -> np.ndarray:
    """H×W bool: within ``reach`` px of a step in ``depth`` (any unit) larger than
    ``jump_fraction`` × ``depth_span`` between neighbouring pixels."""
    kernel = np.ones((3, 3), np.uint8)
    depth = depth.astype(np.float32)
    step = cv2.subtract(cv2.dilate(depth, kernel), cv2.erode(depth, kernel))
    edges = (step > jump_fraction * depth_span).astype(np.uint8)
    size = 2 * reach + 1
    return cv2.dilate(edges, np.ones((size, size), np.uint8)) > 0
