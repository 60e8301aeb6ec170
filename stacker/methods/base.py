"""What a fusion method is: a rule that turns one frame's bands into blending weights.

The stream owns the fused pyramid (``stacker.pyramid``) and hands every tile of every
frame to the method; the method keeps whatever small state it decides from (never
anything per frame) and answers with :class:`~stacker.pyramid.Weights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from stacker.bands import TileBands
from stacker.geometry import Rect
from stacker.pyramid import Weights
from stacker.tiles import Tile


@dataclass(frozen=True)
class FrameContext:
    """What a method may look at besides a frame's tiles, given before them."""

    # Focus grid, bool: where this frame is the sharpest so far (when the focus map is
    # computed: the method uses it, or a depth map was asked for).
    focus_wins: np.ndarray | None
    # The fused image so far, luma at level TILE_LEVELS (None before the first frame).
    fused_low: np.ndarray | None


class FusionMethod:
    """Base of the fusion methods; subclasses register in ``stacker.methods.METHODS``."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for help texts
    # Whether the method decides from the frame's coarse focus map (stacker.focus), and
    # how much that map is smoothed (also what the optional depth output is made of).
    uses_focus: ClassVar[bool] = False
    focus_sigma: ClassVar[float] = 2.0

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.frames = 0  # frames fully merged so far

    @property
    def reach(self) -> int:
        """Context (level-0 px) the decision needs beyond a tile's own pixels."""
        return 16

    def start_frame(self, context: FrameContext) -> None:
        """Called before a frame's tiles."""

    def tile_weights(self, tile: Tile, bands: TileBands, valid: Rect | None) -> Weights:
        """This frame's blending weights on the outer tile at levels 0..TILE_LEVELS
        (thread-safe for tiles with disjoint inner areas).  ``valid``: the frame's
        coverage in output pixels, None when it covers everything."""
        raise NotImplementedError

    def end_frame(self) -> None:
        """Called once a frame is fully merged."""
        self.frames += 1


def valid_mask(valid: Rect | None, outer: Rect, shape: tuple[int, int]) -> np.ndarray | None:
    """Float mask (1 = inside the frame's coverage ``valid``) on the outer tile; None when
    all of it is covered.  (``valid`` already keeps clear of the frame's border by the
    interpolation's reach; coarser levels get the mask's own pyramid, which is soft.)"""
    if valid is None:
        return None
    x0, y0 = valid.x0 - outer.x0, valid.y0 - outer.y0
    x1, y1 = valid.x1 - outer.x0, valid.y1 - outer.y0
    if x0 <= 0 and y0 <= 0 and x1 >= shape[1] and y1 >= shape[0]:
        return None
    mask = np.zeros(shape, dtype=np.float32)
    mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1.0
    return mask
