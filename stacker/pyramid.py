"""The fused Laplacian pyramid, built up one frame at a time from blending weights.

Fine levels (< TILE_LEVELS) are blended tile by tile as frames stream in; the small
coarse rest of the pyramid is blended whole.  Memory is fixed by the image size: nothing
per frame.  Which frame wins where is not decided here but by a fusion method
(``stacker.methods``), which hands over its :class:`Weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stacker.bands import TILE_LEVELS, TileBands, collapse, gaussian_levels, laplacian_bands
from stacker.compand import compand, expand
from stacker.tiles import Tile, level_size, scale_rect


def pyramid_depth(size: tuple[int, int]) -> int:
    """Number of levels so the residual's short side is about 8–16 px (at least 4)."""
    levels = TILE_LEVELS + 1
    while min(level_size(size, levels + 1)) >= 8 and levels < 9:
        levels += 1
    return levels


@dataclass
class Weights:
    """A frame's blending weights on one outer tile: ``levels[k]`` for k ≤ TILE_LEVELS,
    ``binary_finest`` when level 0 is all 0 or 1 (copied instead of blended)."""

    levels: list[np.ndarray]
    binary_finest: bool

    @classmethod
    def from_mask(cls, mask: np.ndarray, binary: bool) -> Weights:
        """The mask's own Gaussian pyramid: the same decision at every level."""
        return cls(gaussian_levels(mask, TILE_LEVELS), binary)


# blend_into works in strips of this many rows: its float temporaries (several per
# call, per worker) stay a few hundred KB instead of several MB per tile.
_BLEND_ROWS = 64


def blend_into(dst: np.ndarray, new: np.ndarray, weight: np.ndarray) -> None:
    """dst ← dst + weight·(new − dst), rounded back to dst's type (int8 = companded).

    ``dst`` is a view into the fused state; OpenCV writes it in place."""
    for r in range(0, dst.shape[0], _BLEND_ROWS):
        rows = slice(r, r + _BLEND_ROWS)
        _blend_strip(dst[rows], new[rows], weight[rows])


def _blend_strip(dst: np.ndarray, new: np.ndarray, weight: np.ndarray) -> None:
    if dst.ndim == 3:
        weight = cv2.merge([weight] * dst.shape[2])
    if dst.dtype == np.int8:
        old = expand(dst)
        diff = cv2.subtract(new, old, dtype=cv2.CV_32F)
        # Rounded to whole fixed-point units first: the int16 code table is several times
        # faster than companding floats, and a unit is below what the code resolves.
        dst[...] = compand(cv2.add(old, cv2.multiply(diff, weight), dtype=cv2.CV_16S))
        return
    diff = cv2.subtract(new, dst, dtype=cv2.CV_32F)
    cv2.add(dst, cv2.multiply(diff, weight), dst=dst, dtype=cv2.CV_16S)


class FusedPyramid:
    """Luma (12-bit fixed point) and chroma bands of the fused image so far."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.depth = pyramid_depth(size)
        fine = [level_size(size, k) for k in range(TILE_LEVELS)]
        self.luma = [np.zeros((h, w), np.int16) for w, h in fine]
        # Chroma's finest band is stored companded in 8 bits (stacker.compand).
        self.chroma: list[np.ndarray] = [
            np.zeros((h, w, 2), np.int8 if k == 0 else np.int16) for k, (w, h) in enumerate(fine)
        ]
        coarse = [level_size(size, k) for k in range(TILE_LEVELS, self.depth + 1)]
        self.coarse_luma = [np.zeros((h, w), np.int16) for w, h in coarse]
        self.coarse_chroma = [np.zeros((h, w, 2), np.int16) for w, h in coarse]
        self.frames = 0

    def merge_tile(self, tile: Tile, bands: TileBands, weights: Weights) -> np.ndarray:
        """Blend one tile's fine bands (thread-safe for tiles with disjoint inner areas);
        returns the inner part of the weight at level TILE_LEVELS for the coarse rest."""
        masks = weights.levels
        for k in range(TILE_LEVELS):
            inner = tile.inner_in_outer(k)
            ir = scale_rect(tile.inner, k)
            rows, cols = slice(ir.y0, ir.y1), slice(ir.x0, ir.x1)
            weight = masks[k][inner]
            if k == 0 and weights.binary_finest:
                take = (weight > 0).astype(np.uint8)
                cv2.copyTo(bands.luma[0][inner], take, self.luma[0][rows, cols])
                cv2.copyTo(compand(bands.chroma[0][inner]), take, self.chroma[0][rows, cols])
                continue
            blend_into(self.luma[k][rows, cols], bands.luma[k][inner], weight)
            blend_into(self.chroma[k][rows, cols], bands.chroma[k][inner], weight)
        return masks[TILE_LEVELS][tile.inner_in_outer(TILE_LEVELS)]

    def merge_coarse(
        self, luma_low: np.ndarray, chroma_low: np.ndarray, weight_low: np.ndarray
    ) -> None:
        """Blend the coarse levels of one whole frame, from its Gaussian level TILE_LEVELS
        and the weight there (assembled from the tiles); the frame is then merged."""
        levels = self.depth - TILE_LEVELS
        luma_g = gaussian_levels(luma_low, levels)
        chroma_g = gaussian_levels(chroma_low, levels)
        weights = gaussian_levels(weight_low, levels)
        luma_b = [*laplacian_bands(luma_g), luma_g[-1]]
        chroma_b = [*laplacian_bands(chroma_g), chroma_g[-1]]
        for j, w in enumerate(weights):
            blend_into(self.coarse_luma[j], luma_b[j], w)
            blend_into(self.coarse_chroma[j], chroma_b[j], w)
        self.frames += 1

    def _coarse_gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian level TILE_LEVELS of the fused image (luma, chroma), int16."""
        luma = collapse(self.coarse_luma[-1], [b.copy() for b in self.coarse_luma[:-1]])
        chroma = collapse(self.coarse_chroma[-1], [b.copy() for b in self.coarse_chroma[:-1]])
        return luma, chroma

    def low_luma(self) -> np.ndarray | None:
        """Luma of the fused image so far at level TILE_LEVELS (int16), None before any
        frame: the low frequencies a frame's fine detail will be laid over."""
        if self.frames == 0:
            return None
        return collapse(self.coarse_luma[-1], [b.copy() for b in self.coarse_luma[:-1]])

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        """Fused luma and chroma at level 2 (a quarter size): cheap, for live previews."""
        luma, chroma = self._coarse_gaussian()
        return collapse(luma, [self.luma[2].copy()]), collapse(chroma, [self.chroma[2].copy()])

    def collapse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fused luma (full size, int16), chroma at level 1 (half size, int16) and chroma's
        finest band (full size, int8 companded: see :func:`~stacker.compand.expand`).
        Consumes the state: bands are rebuilt in place to stay within memory."""
        luma, chroma = self._coarse_gaussian()
        luma = collapse(luma, self.luma)
        chroma = collapse(chroma, self.chroma[1:])
        fine = self.chroma[0]
        self.luma, self.chroma = [], []
        return luma, chroma, fine
