"""The default "pyramid" method: the frame with the sharpest neighbourhood wins.

A frame wins a pixel where the finest band's energy in a Gaussian neighbourhood (σ 6 px)
is the highest so far.  The neighbourhood is the consistency check: isolated noise
coefficients cannot win, so flat areas are not turned into noise.  Pooling the 4th power
(an L4 norm, between a mean and a max) lets the few very strong coefficients of an
in-focus edge or highlight outweigh the wide but weaker rim of the same highlight
defocused (the bokeh-ring trap) and the spread-out energy of a defocused bright edge
(the halo trap).
"""

from __future__ import annotations

import numpy as np

from stacker.bands import TileBands
from stacker.geometry import Rect
from stacker.methods.base import FusionMethod, valid_mask
from stacker.methods.sharpness import NoiseFloor, pool_box, pool_reach, sharpness
from stacker.pyramid import Weights
from stacker.tiles import Tile, level_size, scale_rect


class SharpestNeighbourhood(FusionMethod):
    name = "pyramid"
    summary = "per pixel, the frame whose neighbourhood is sharpest, blended through a pyramid"

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        # The pooled sharpness varies slowly, so it is decided on the half-size grid
        # (level 1): a quarter of the memory and work.  0 = no frame yet.
        w1, h1 = level_size(size, 1)
        self.best = np.zeros((h1, w1), np.uint8)
        self.box = pool_box(size[0]) // 2 | 1
        self.noise = NoiseFloor()

    @property
    def reach(self) -> int:
        return pool_reach(self.size[0])

    def tile_weights(self, tile: Tile, bands: TileBands, valid: Rect | None) -> Weights:
        band0 = bands.luma[0]
        if self.frames == 0:
            self.noise.observe(band0[tile.inner_in_outer(0)])
        o1 = scale_rect(tile.outer, 1)
        best = self.best[o1.y0 : o1.y1, o1.x0 : o1.x1]
        score = sharpness(band0, self.box)
        half = (score >= best).astype(np.float32)
        floor = self.noise.code
        binary = True
        if floor is not None:
            # Nothing but noise here in every frame so far: average instead of choosing.
            flat = (score < floor) & (best < floor) & (best > 0)
            if flat.any():
                half[flat] = 1.0 / (self.frames + 1)
                binary = False
        h0, w0 = band0.shape
        mask = np.ascontiguousarray(half.repeat(2, axis=0).repeat(2, axis=1)[:h0, :w0])
        vmask = valid_mask(valid, tile.outer, mask.shape)
        if vmask is not None:
            mask *= vmask
        inner1 = tile.inner_in_outer(1)
        won = mask[::2, ::2][inner1] > 0
        np.copyto(best[inner1], np.maximum(best[inner1], score[inner1]), where=won)
        return Weights.from_mask(mask, binary)

    def end_frame(self) -> None:
        super().end_frame()
        if self.frames == 1:
            self.noise.settle()
