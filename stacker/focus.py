"""Per-frame focus measure on a coarse grid, and the depth map it yields.

The measure is band-pass energy of the aligned grey proxy, smoothed: "how much fine
detail does this frame show around here".  A running argmax of it is the optional
depth-map output, and what fusion methods that decide on depth (``uses_focus``, such as
"depthmap") decide from.
"""

from __future__ import annotations

import cv2
import numpy as np

from stacker import geometry
from stacker.align import Proxy
from stacker.geometry import Matrix, Rect
from stacker.tiles import level_size

# The focus grid is pyramid level 2 (a quarter of the frame's width).
FOCUS_LEVEL = 2


def measure(
    proxy: Proxy,
    warp: Matrix | None,
    gain: float,
    size: tuple[int, int],
    sigma: float,
    valid: Rect | None,
) -> np.ndarray:
    """Smoothed band-pass energy of ``proxy`` seen through ``warp`` (output→frame), on
    the focus grid of an output of ``size``; zero outside ``valid`` (output pixels)."""
    factor = proxy.level_factor(0)
    img = proxy.levels[0].image
    h, w = img.shape
    if warp is not None:
        m = geometry.to_cv(geometry.rescale(warp, 1.0 / factor))
        img = cv2.warpAffine(
            img,
            m,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT101,
        )
    band = cv2.subtract(img, cv2.GaussianBlur(img, (0, 0), 1.0))
    energy = cv2.multiply(band, band, scale=gain * gain)
    gw, gh = level_size(size, FOCUS_LEVEL)
    interp = cv2.INTER_AREA if gw <= w else cv2.INTER_LINEAR
    energy = cv2.resize(energy, (gw, gh), interpolation=interp)
    if valid is not None:
        _zero_outside(energy, valid, size)
    return cv2.GaussianBlur(energy, (0, 0), sigma) if sigma > 0 else energy


def _zero_outside(grid: np.ndarray, valid: Rect, size: tuple[int, int]) -> None:
    gh, gw = grid.shape
    sx, sy = gw / size[0], gh / size[1]
    x0, y0 = int(np.ceil(valid.x0 * sx)) + 1, int(np.ceil(valid.y0 * sy)) + 1
    x1, y1 = int(valid.x1 * sx) - 1, int(valid.y1 * sy) - 1
    keep = np.zeros_like(grid, dtype=bool)
    keep[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    grid[~keep] = 0.0


class DepthTracker:
    """Which frame is sharpest where, kept as a running argmax on the focus grid."""

    def __init__(self, grid_shape: tuple[int, int]) -> None:
        self.best = np.full(grid_shape, -1.0, dtype=np.float32)
        self.index = np.zeros(grid_shape, dtype=np.uint16)

    def update(self, focus: np.ndarray, frame_index: int) -> np.ndarray:
        """Record frame ``frame_index``'s measure; returns where it is the sharpest so far."""
        wins = focus > self.best
        np.copyto(self.best, focus, where=wins)
        self.index[wins] = frame_index
        return wins

    def depth_map(
        self, frame_count: int, near_first: bool, size: tuple[int, int], crop: Rect
    ) -> np.ndarray:
        """8-bit depth map of the output (near = bright), cropped like the image."""
        span = max(1, frame_count - 1)
        idx = self.index.astype(np.float32)
        near = 1.0 - idx / span if near_first else idx / span
        grid = np.clip(np.rint(near * 255.0), 0, 255).astype(np.uint8)
        # Upsample in 8 bits: a float full-size map would cost more than the image.
        full = cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(full[crop.y0 : crop.y1, crop.x0 : crop.x1])
