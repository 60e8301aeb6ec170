"""Overlapping tiles: per-frame work runs tile by tile so the working set stays small.

Tile origins are multiples of ``2**levels`` so every tile's pyramid levels fall on the
whole image's level grids; the margin gives each tile the context its filters need so
the inner region comes out as if the whole frame had been processed at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from stacker.geometry import Rect


def level_size(size: tuple[int, int], level: int) -> tuple[int, int]:
    """(width, height) of pyramid level ``level`` — OpenCV's pyrDown rounds up."""
    w, h = size
    for _ in range(level):
        w, h = (w + 1) // 2, (h + 1) // 2
    return w, h


def scale_rect(rect: Rect, level: int) -> Rect:
    """``rect`` (level-0 pixels, origin a multiple of 2**level) on level ``level``'s grid."""
    d = 1 << level
    return Rect(rect.x0 // d, rect.y0 // d, -(-rect.x1 // d), -(-rect.y1 // d))


@dataclass(frozen=True)
class Tile:
    inner: Rect  # the pixels this tile owns
    outer: Rect  # inner plus margin, clipped to the frame

    def inner_in_outer(self, level: int) -> tuple[slice, slice]:
        """Slices selecting the inner region inside the outer tile's arrays at ``level``."""
        o, i = scale_rect(self.outer, level), scale_rect(self.inner, level)
        return slice(i.y0 - o.y0, i.y1 - o.y0), slice(i.x0 - o.x0, i.x1 - o.x0)


def tile_grid(size: tuple[int, int], tile: int, margin: int, align: int) -> list[Tile]:
    """Tiles of about ``tile`` px covering a frame of ``size`` = (width, height)."""
    if tile % align or margin % align:
        raise ValueError("tile size and margin must be multiples of the alignment")
    w, h = size
    return [
        Tile(
            inner=Rect(x, y, min(x + tile, w), min(y + tile, h)),
            outer=Rect(
                max(0, x - margin),
                max(0, y - margin),
                min(w, x + tile + margin),
                min(h, y + tile + margin),
            ),
        )
        for y, x in _origins(w, h, tile)
    ]


def tile_phases(tiles: list[Tile], tile: int, margin: int) -> list[list[int]]:
    """The tiles' indices in phases whose tiles may run at the same time.

    A tile reads the decision state of its whole outer area and writes that of its inner
    area, so two tiles run together only when neither's margin reaches into the other's
    inner area: tiles ``stride`` apart in both directions.  Phases run one after the
    other, always in this order, so the result is the same however many threads run
    them (and whichever finishes first)."""
    stride = 1 + -(-margin // tile)
    phases: dict[tuple[int, int], list[int]] = {}
    for index, t in enumerate(tiles):
        key = ((t.inner.y0 // tile) % stride, (t.inner.x0 // tile) % stride)
        phases.setdefault(key, []).append(index)
    return [phases[key] for key in sorted(phases)]


# Tile sizes tried, largest first: a larger tile recomputes less of its neighbours' margin
# (12 MP, 80 px margin: 1.24× the frame's pixels at 1024 against 1.50× at 640, −7 % CPU
# per frame) but holds more per worker (temporaries ~20 bytes a pixel of the outer tile).
TILE_SIZES = (1024, 768, 640)


def pick_tile(size: tuple[int, int], margin: int, align: int, parallel: int) -> int:
    """The largest of :data:`TILE_SIZES` for which every phase has at least ``parallel``
    tiles, so no worker waits on a phase's last tile; the smallest when none does.

    ``parallel`` is the machine's, not a stream's worker count: the tiling must not
    change with the workers or pooled fusion would differ from single-threaded."""
    for tile in TILE_SIZES:
        tiles = tile_grid(size, tile, margin, align)
        if all(len(phase) >= parallel for phase in tile_phases(tiles, tile, margin)):
            return tile
    return TILE_SIZES[-1]


def _origins(w: int, h: int, tile: int) -> Iterator[tuple[int, int]]:
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            yield y, x
