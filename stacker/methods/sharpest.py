"""The default "pyramid" method: the sharpest detail wins, decided at two scales.

Per pixel (on the half-size grid) two choices are kept.  The *coarse* one, for the
pyramid levels from TILE_LEVELS down (structure wider than ~8 px), goes to the frame
with the highest *wide* sharpness; the *fine* one, for the levels above, to the frame
with the highest *narrow* sharpness (``stacker.methods.sharpness``).  Both only among
frames whose wide sharpness is within a factor of 1.5 of the best frame's (the veto),
and for both a frame that shows the pixel unclipped beats one that shows it clipped.
The fine choice must also agree with the fused image's low frequencies.

Why: one decision pooled over a wide neighbourhood and blended through every level let
a frame in which a strong edge or a thin foreground is sharp also win a band of the
background beside it, which that frame shows defocused — a soft, textureless halo.  The
narrow decision puts each side's own detail back.  What only looks sharp up close is
kept out by the other rules: the rim of a defocused highlight (the veto: the in-focus
highlight is far sharper around there), a clipped highlight spread out of focus into a
larger clipped disc with a sharp edge (clipping), and detail laid over light the frame
does not share with the result — a bokeh disc, a veil (agreement).  The low frequencies,
where a defocused veil lives, come from the frames that are sharp around here.  Where
every frame so far shows only sensor noise, frames are averaged instead.

State: six bytes per half-size pixel, nothing per frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from stacker.bands import FULL_SCALE, TILE_LEVELS, TileBands, gaussian_levels
from stacker.geometry import Rect
from stacker.methods.base import FrameContext, FusionMethod, valid_mask
from stacker.methods.sharpness import WIDE, NoiseFloor, sharpness
from stacker.pyramid import Weights
from stacker.tiles import Tile, level_size, scale_rect

# A frame may take the fine levels only where its wide sharpness is within this many
# codes (2^(10/16): a factor of 1.5) of the best frame's: wider lets bokeh rims through,
# narrower gives the halo back.
_VETO = 10
# Luma (Gaussian level 1, as a fraction of full scale) from which a pixel, and its
# neighbours, count as clipped.  A clipped source's true brightness is unknown, and out
# of focus it spreads into a larger clipped disc with a sharp rim.
_CLIPPED = 0.97 * FULL_SCALE
_NEAR = np.ones((3, 3), np.uint8)
# Fine detail is taken only from a frame whose low frequencies (level TILE_LEVELS) are
# within this fraction of full scale of the fused image's there.
_AGREE = 0.05


class SharpestDetail(FusionMethod):
    name = "pyramid"
    summary = "per pixel, the sharpest detail (decided finely, vetoed widely), pyramid-blended"

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        w1, h1 = level_size(size, 1)
        self.best_wide = np.zeros((h1, w1), np.uint8)  # over all frames; 0 = none yet
        self.coarse = _Choice((h1, w1), wide_is_score=True)
        self.fine = _Choice((h1, w1))
        self.noise = NoiseFloor()
        self._fused_low: np.ndarray | None = None

    @property
    def reach(self) -> int:
        return WIDE.reach(self.size[0])

    def start_frame(self, context: FrameContext) -> None:
        self._fused_low = context.fused_low

    def tile_weights(self, tile: Tile, bands: TileBands, valid: Rect | None) -> Weights:
        band0 = bands.luma[0]
        if self.frames == 0:
            self.noise.observe(band0[tile.inner_in_outer(0)])
        o1 = scale_rect(tile.outer, 1)
        area = (slice(o1.y0, o1.y1), slice(o1.x0, o1.x1))
        best, old_coarse, old_fine = self.best_wide[area], self.coarse[area], self.fine[area]
        score = sharpness(band0, self.size[0])
        new = _Choice.of(score.wide, score.wide, _clipped(bands))
        top = np.maximum(best, score.wide).astype(np.int16) - _VETO
        coarse = new.beats(old_coarse, top)
        fine_new = _Choice.of(score.narrow, score.wide, new.clipped)
        fine = fine_new.beats(old_fine, top)
        if self._fused_low is not None:
            fine &= coarse | self._consistent(tile, bands, fine.shape)
        coarse, fine = coarse.astype(np.float32), fine.astype(np.float32)
        binary = True
        if self.noise.wide is not None and self.noise.narrow is not None:
            # Nothing but noise here in every frame so far: average instead of choosing.
            # The wide test decides for both (the narrow score of noise is noisier, and a
            # pixel that flips between averaging and choosing keeps the loudest noise).
            wide, narrow, fine_n = score.wide, score.narrow, old_fine.score
            flat = (wide < self.noise.wide) & (best < self.noise.wide) & (best > 0)
            flat_fine = flat | (
                (narrow < self.noise.narrow) & (fine_n < self.noise.narrow) & (fine_n > 0)
            )
            share = 1.0 / (self.frames + 1)
            for mask, where in ((coarse, flat), (fine, flat_fine)):
                if where.any():
                    mask[where] = share
                    binary = False

        vmask = valid_mask(valid, tile.outer, band0.shape)
        if vmask is not None:
            covered = vmask[::2, ::2]
            fine *= covered
            coarse *= covered
        inner = tile.inner_in_outer(1)
        if vmask is None or covered[inner].all():
            np.maximum(best[inner], score.wide[inner], out=best[inner])
        else:
            np.copyto(
                best[inner], np.maximum(best[inner], score.wide[inner]), where=covered[inner] > 0
            )
        old_coarse.take(new, inner, coarse[inner] > 0)
        old_fine.take(fine_new, inner, fine[inner] > 0)

        # Fine levels: the fine mask's own pyramid from level 0.  The coarse levels need
        # the coarse mask only at level TILE_LEVELS, reached from the half-size grid.
        full = np.ascontiguousarray(fine.repeat(2, axis=0).repeat(2, axis=1))
        levels = gaussian_levels(full[: band0.shape[0], : band0.shape[1]], TILE_LEVELS)
        if not np.array_equal(coarse, fine):
            levels[TILE_LEVELS] = gaussian_levels(coarse, TILE_LEVELS - 1)[-1]
        return Weights(levels, binary)

    def _consistent(self, tile: Tile, bands: TileBands, shape: tuple[int, ...]) -> np.ndarray:
        """Half-size grid, bool: where this frame's low frequencies agree with the fused
        image's.  Where they do not, the frame shows something else there — the disc of
        a defocused highlight, a veil over the background — and its fine detail laid
        over the fused low frequencies would be a ring or a fringe."""
        assert self._fused_low is not None
        o = scale_rect(tile.outer, TILE_LEVELS)
        ref = self._fused_low[o.y0 : o.y1, o.x0 : o.x1]
        diff = cv2.absdiff(bands.luma_low, ref) <= _AGREE * FULL_SCALE * bands.gain
        step = 1 << (TILE_LEVELS - 1)
        up = diff.repeat(step, axis=0).repeat(step, axis=1)
        return up[: shape[0], : shape[1]]

    def end_frame(self) -> None:
        super().end_frame()
        if self.frames == 1:
            self.noise.settle()


class _Choice:
    """Per half-size pixel, what the frame chosen so far scored: the score the choice is
    made on, its wide score (for the veto) and whether it was clipped there."""

    def __init__(self, shape: tuple[int, int], wide_is_score: bool = False) -> None:
        self.score = np.zeros(shape, np.uint8)  # 0 = nothing chosen yet
        self.wide = self.score if wide_is_score else np.zeros(shape, np.uint8)
        self.clipped = np.zeros(shape, bool)

    @classmethod
    def of(cls, score: np.ndarray, wide: np.ndarray, clipped: np.ndarray) -> _Choice:
        choice = cls.__new__(cls)
        choice.score, choice.wide, choice.clipped = score, wide, clipped
        return choice

    def __getitem__(self, area: tuple[slice, slice]) -> _Choice:
        return _Choice.of(self.score[area], self.wide[area], self.clipped[area])

    def beats(self, old: _Choice, top: np.ndarray) -> np.ndarray:
        """Where this (new) frame replaces the ``old`` choice: it must be within the veto
        (wide ≥ ``top``); a choice the veto now excludes is replaced; otherwise unclipped
        beats clipped, then the higher score wins."""
        kept = (old.wide >= top) & (old.score > 0)
        better = np.where(self.clipped == old.clipped, self.score >= old.score, old.clipped)
        return (self.wide >= top) & (~kept | better)

    def take(self, new: _Choice, inner: tuple[slice, slice], where: np.ndarray) -> None:
        np.copyto(self.score[inner], new.score[inner], where=where)
        np.copyto(self.wide[inner], new.wide[inner], where=where)
        np.copyto(self.clipped[inner], new.clipped[inner], where=where)


def _clipped(bands: TileBands) -> np.ndarray:
    """Half-size grid, bool: at or next to a clipped pixel."""
    clipped = bands.luma_half >= _CLIPPED * bands.gain
    return cv2.dilate(clipped.astype(np.uint8), _NEAR) > 0
