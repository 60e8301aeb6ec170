"""The "depthmap" method: a smoothed depth decision, blended through soft masks."""

from __future__ import annotations

import cv2
import numpy as np

from stacker.bands import TileBands
from stacker.focus import FOCUS_LEVEL
from stacker.geometry import Rect
from stacker.methods.base import FrameContext, FusionMethod, valid_mask
from stacker.pyramid import Weights
from stacker.tiles import Tile, scale_rect


class SmoothDepth(FusionMethod):
    """The winner is decided on the smoothed quarter-size focus measure (a smoothed depth
    map) and the mask is soft."""

    name = "depthmap"
    summary = "a smoothed depth map decides, blended with soft masks"
    uses_focus = True
    focus_sigma = 6.0

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        self._guide: np.ndarray | None = None

    def start_frame(self, context: FrameContext) -> None:
        assert context.focus_wins is not None
        self._guide = cv2.GaussianBlur(context.focus_wins.astype(np.float32), (0, 0), 1.0)

    def tile_weights(self, tile: Tile, bands: TileBands, valid: Rect | None) -> Weights:
        assert self._guide is not None
        g = scale_rect(tile.outer, FOCUS_LEVEL)
        coarse = self._guide[g.y0 : g.y1, g.x0 : g.x1]
        h, w = bands.luma[0].shape
        mask = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        vmask = valid_mask(valid, tile.outer, mask.shape)
        if vmask is not None:
            mask *= vmask
        return Weights.from_mask(mask, binary=False)
