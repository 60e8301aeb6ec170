"""Per-frame curves from the health records: where each frame sits (magnification and
shift relative to the first frame), its brightness gain, and its focus response.

Placement is the registration links composed from the first frame (a link maps its
template's pixels to the frame's), so it needs no reference frame and no fusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stacker.health.record import FrameRecord

# A cell "responds to focus" when its sharpest frame shows at least this many times the
# detail energy of its least sharp one (log₂ units): flat or never-sharp areas, whose
# curves are noise, say nothing about focus.
RESPONSIVE_STOPS = 2.0


@dataclass(frozen=True)
class Series:
    """Frame-indexed curves; NaN where a frame has no value (skipped, not placed)."""

    count: int
    size: tuple[int, int]
    scale: np.ndarray  # magnification relative to the first placed frame
    shift: np.ndarray  # N×2: where the frame centre moved (full-size px)
    log_gain: np.ndarray  # log₂ of the frame's light relative to the first frame
    sharpness: np.ndarray  # N×cells, log₂ detail energy (NaN rows: skipped frames)
    levels: np.ndarray  # N×cells, log₂ mean level of each grid cell
    responsive: np.ndarray  # cells that respond to focus
    skipped: dict[int, str]
    grid_shape: tuple[int, int]  # rows, columns of the sharpness grid


def build(frames: list[FrameRecord], size: tuple[int, int]) -> Series:
    # Indices, not positions: a frame whose file could not be read left no record.
    n = max(f.index for f in frames) + 1
    placed: dict[int, tuple[np.ndarray, float]] = {}
    scale = np.full(n, np.nan)
    shift = np.full((n, 2), np.nan)
    centre = np.array([(size[0] - 1) / 2.0, (size[1] - 1) / 2.0, 1.0])
    for f in frames:
        if f.skipped is not None:
            continue
        if f.template is None or f.warp is None:
            warp, gain = np.eye(3), 1.0  # the first frame, or frames not aligned
        elif f.template in placed:
            link = np.eye(3)
            link[:2] = f.warp
            warp_t, gain_t = placed[f.template]
            warp, gain = link @ warp_t, gain_t * f.gain
        else:
            continue
        placed[f.index] = (warp, gain)
        scale[f.index] = float(np.hypot(warp[0, 0], warp[1, 0]))
        shift[f.index] = (warp @ centre)[:2] - centre[:2]
    used = [f for f in frames if f.skipped is None]
    log_gain = np.full(n, np.nan)
    if used:
        log_gain[[f.index for f in used]] = light_curve([f.light for f in used])
    grid = frames[0].sharpness.shape
    sharp = np.full((n, grid[0] * grid[1]), np.nan, np.float32)
    for f in frames:
        if f.skipped is None:
            sharp[f.index] = f.sharpness.ravel()
    with np.errstate(all="ignore"):
        span = np.nanmax(sharp, axis=0) - np.nanmin(sharp, axis=0)
    responsive = np.nan_to_num(span, nan=0.0) >= RESPONSIVE_STOPS
    return Series(
        count=n,
        size=size,
        scale=scale,
        shift=shift,
        log_gain=log_gain,
        sharpness=sharp,
        levels=_levels(frames, n),
        responsive=responsive,
        skipped=_skipped(frames, n),
        grid_shape=(grid[0], grid[1]),
    )


def _levels(frames: list[FrameRecord], n: int) -> np.ndarray:
    """log₂ mean level per grid cell, one row per frame index; a frame that left no
    record (unreadable) repeats the row before it, so it reads as no change of light."""
    rows = {f.index: np.log2(np.maximum(f.light.ravel(), 1e-4)) for f in frames}
    levels = np.empty((n, frames[0].light.size))
    previous = rows[min(rows)]
    for i in range(n):
        previous = rows.get(i, previous)
        levels[i] = previous
    return levels


def _skipped(frames: list[FrameRecord], n: int) -> dict[int, str]:
    skipped = {f.index: f.skipped for f in frames if f.skipped is not None}
    seen = {f.index for f in frames}
    skipped.update({i: "could not be read" for i in range(n) if i not in seen})
    return dict(sorted(skipped.items()))


# Grid cells darker or brighter than these (grey level 0–1) say little about the light:
# noise, or clipping that hides how much brighter a frame got.
_DARK, _BRIGHT = 0.03, 0.92


# Frames are gamma-encoded (sRGB, a camera's JPEG): light ∝ value^2.2.
GAMMA = 2.2


def light_curve(grids: list[np.ndarray]) -> np.ndarray:
    """log₂ of each frame's light relative to the first: the median over grid cells of
    the change in level from the frame before (a defocused highlight or a blurring edge
    changes a few cells' means, the light changes all of them), made linear."""
    out = np.zeros(len(grids))
    for i in range(1, len(grids)):
        a, b = grids[i - 1].ravel(), grids[i].ravel()
        usable = (a > _DARK) & (a < _BRIGHT) & (b > _DARK) & (b < _BRIGHT)
        if usable.sum() < 4:
            usable = (a > 0) & (b > 0)
        step = float(np.median(np.log2(b[usable] / a[usable]))) if usable.any() else 0.0
        out[i] = out[i - 1] + GAMMA * step
    return out


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 × the median absolute deviation: σ for Gaussian data, blind to outliers."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0
    return 1.4826 * float(np.median(np.abs(v - np.median(v))))
