"""Covering the pixels a depth slice reaches with few, disjoint rectangles.

A depth slice (say, one ring of a dome) touches a small part of its bounding box.  Its
pixels are tracked on a grid of small cells; its blurred layer lands on those cells grown
by the blur's reach, which are covered with horizontal strips, each split into runs at
cell precision.  Taller strips mean fewer boxes but a looser fit: the cover with the least
estimated work wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end-exclusive
CellGrid = NDArray[np.bool_]
Size = tuple[int, int]
# Side of the cells in which a slice's pixels are tracked (a power of two).
CELL_PX = 8
# The shortest strip: shorter ones would make too many boxes.
MIN_STRIP_PX = 32
# Fixed cost of processing one more box (a dozen OpenCV calls), as an equivalent area.
BOX_OVERHEAD_PX = 6000


@dataclass(frozen=True)
class Cover:
    """Where one slice is processed: ``footprint`` (disjoint boxes) is where its blurred
    layer lands; ``occupied`` cells hold its pixels."""

    footprint: list[Box]
    occupied: CellGrid
    image_size: Size

    @property
    def cost(self) -> float:
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in self.footprint)
        return area + BOX_OVERHEAD_PX * len(self.footprint)

    def occupied_boxes(self, tile_px: int) -> list[Box]:
        """Disjoint boxes of ``tile_px`` tiles (a multiple of CELL_PX, so box corners are
        multiples of it) holding all the slice's pixels."""
        tiles = pooled(self.occupied, tile_px // CELL_PX, tile_px // CELL_PX)
        return rectangles(tiles, (tile_px, tile_px), self.image_size)


def cheapest_cover(occupied: CellGrid, reach_px: int, image_size: Size) -> Cover:
    """The cover of ``occupied`` cells grown by ``reach_px`` with the least work."""
    reached = dilated(occupied, math.ceil(reach_px / CELL_PX))
    best: Cover | None = None
    strip_px = MIN_STRIP_PX
    while True:
        strips = pooled(reached, strip_px // CELL_PX, 1)
        cover = Cover(rectangles(strips, (CELL_PX, strip_px), image_size), occupied, image_size)
        if best is not None and cover.cost >= best.cost:
            return best  # taller strips only get worse from here on
        best = cover
        if strips.shape[0] <= 1:
            return best
        strip_px *= 2


def pooled(grid: CellGrid, rows: int, cols: int) -> CellGrid:
    """The grid of cells ``rows`` × ``cols`` times larger (set if any small one is)."""
    if rows == 1 and cols == 1:
        return grid
    height, width = grid.shape
    padded = np.zeros((-(-height // rows) * rows, -(-width // cols) * cols), bool)
    padded[:height, :width] = grid
    blocks = padded.reshape(padded.shape[0] // rows, rows, -1, cols)
    return np.asarray(blocks.any(axis=(1, 3)), bool)


def dilated(grid: CellGrid, cells: int) -> CellGrid:
    """``grid`` grown by ``cells`` cells in every direction."""
    if cells <= 0:
        return grid
    kernel = np.ones((2 * cells + 1, 2 * cells + 1), np.uint8)
    return np.asarray(cv2.dilate(grid.astype(np.uint8), kernel), bool)


def rectangles(grid: CellGrid, cell_size: Size, image_size: Size) -> list[Box]:
    """Disjoint pixel boxes covering exactly the set cells (each ``cell_size`` (w, h)
    pixels), clipped to ``image_size``: runs of set cells in each row, merged with
    identical runs in the rows below."""
    rows, cols = grid.shape
    padded = np.zeros((rows, cols + 2), np.int8)
    padded[:, 1:-1] = grid
    row, edge = np.nonzero(np.diff(padded, axis=1))
    if row.size == 0:
        return []
    # Edges alternate start, end along each row; group runs by their column span.
    first, last, run_row = edge[0::2], edge[1::2], row[0::2]
    order = np.lexsort((run_row, last, first))
    first, last, run_row = first[order], last[order], run_row[order]
    # A run continues the previous box if it spans the same columns on the next row.
    same_span = (first[1:] == first[:-1]) & (last[1:] == last[:-1])
    starts_box = np.r_[True, ~(same_span & (run_row[1:] == run_row[:-1] + 1))]
    firsts = np.flatnonzero(starts_box)
    lasts = np.r_[firsts[1:] - 1, starts_box.size - 1]  # each box's last run
    top, bottom = run_row[firsts], run_row[lasts] + 1
    (cell_w, cell_h), (width, height) = cell_size, image_size
    x0, x1 = first[starts_box] * cell_w, np.minimum(last[starts_box] * cell_w, width)
    y0, y1 = top * cell_h, np.minimum(bottom * cell_h, height)
    keep = (x1 > x0) & (y1 > y0)
    return [
        (int(a), int(b), int(c), int(d))
        for a, b, c, d in zip(x0[keep], y0[keep], x1[keep], y1[keep], strict=True)
    ]


def cells_of(boxes: list[Box], image_size: Size) -> CellGrid:
    """The cells that ``boxes`` touch."""
    width, height = image_size
    grid = np.zeros((-(-height // CELL_PX), -(-width // CELL_PX)), bool)
    for x0, y0, x1, y1 in boxes:
        grid[y0 // CELL_PX : -(-y1 // CELL_PX), x0 // CELL_PX : -(-x1 // CELL_PX)] = True
    return grid


def bounds(boxes: list[Box]) -> Box:
    """The smallest box containing all ``boxes``."""
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def grown(box: Box, margin: int, image_size: Size) -> Box:
    """``box`` with ``margin`` pixels added on every side, clipped to the image."""
    width, height = image_size
    x0, y0, x1, y1 = box
    return (
        max(x0 - margin, 0),
        max(y0 - margin, 0),
        min(x1 + margin, width),
        min(y1 + margin, height),
    )
