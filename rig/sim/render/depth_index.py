"""A scene's pixels sorted by depth, so that any depth slice is one contiguous run.

Sorting once per scene makes slicing per frame cheap: a slice is found with a binary
search, and its pixel count, mean depth and the cells it touches come from its run alone.
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rig.sim.render.scene import Scene
from rig.sim.render.slice_cover import CELL_PX, CellGrid

DEPTH_LEVELS = 65535


@dataclass(frozen=True)
class DepthIndex:
    """Depth quantised to 16 bits (``level_map``) and the pixels' cells in depth order."""

    level_map: NDArray[np.uint16]  # H×W
    levels: NDArray[np.uint16]  # sorted
    cells: NDArray[np.int32]  # cell number of each pixel, in the same order
    cell_grid_shape: tuple[int, int]  # (rows, cols) of CELL_PX cells
    depth_min: float
    mm_per_level: float
    highlight_levels: NDArray[np.uint16]  # quantised depths of specular pixels, sorted

    def runs(self, edges_mm: NDArray[np.float64]) -> list[tuple[int, int]]:
        """Non-empty runs ``(start, stop)`` of sorted pixels between consecutive depth edges
        (and before the first / after the last), near to far."""
        edge_levels = np.ceil((edges_mm - self.depth_min) / self.mm_per_level)
        positions = np.searchsorted(self.levels, np.clip(edge_levels, 0, DEPTH_LEVELS + 1))
        bounds = np.unique(np.concatenate([[0], positions, [self.levels.size]]))
        return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]

    def level_range(self, start: int, stop: int) -> tuple[int, int]:
        """Lowest and highest quantised depth in a run (inclusive)."""
        return int(self.levels[start]), int(self.levels[stop - 1])

    def depth_at(self, level: int) -> float:
        """Depth (mm) of a quantised depth level."""
        return self.depth_min + self.mm_per_level * level

    def depth_span(self) -> tuple[float, float]:
        return self.depth_min, self.depth_min + self.mm_per_level * float(self.levels[-1])

    def has_highlights(self, start: int, stop: int) -> bool:
        """Does the run include specular highlights?"""
        low, high = self.level_range(start, stop)
        first = np.searchsorted(self.highlight_levels, low)
        return bool(first < self.highlight_levels.size and self.highlight_levels[first] <= high)

    def occupied_cells(self, start: int, stop: int) -> CellGrid:
        """Which CELL_PX cells hold pixels of the run."""
        rows, cols = self.cell_grid_shape
        counts = np.bincount(self.cells[start:stop], minlength=rows * cols)
        return (counts > 0).reshape(rows, cols)


_INDEXES: weakref.WeakKeyDictionary[Scene, DepthIndex] = weakref.WeakKeyDictionary()


def depth_index(scene: Scene) -> DepthIndex:
    """The (cached) depth index of ``scene``."""
    index = _INDEXES.get(scene)
    if index is None:
        index = _build(scene)
        _INDEXES[scene] = index
    return index


def _build(scene: Scene) -> DepthIndex:
    height, width = scene.depth.shape
    depth = scene.depth.ravel()
    depth_min, depth_max = float(depth.min()), float(depth.max())
    mm_per_level = max(depth_max - depth_min, 1e-9) / DEPTH_LEVELS
    quantised = np.rint((depth - depth_min) / mm_per_level).astype(np.uint16)
    order = np.argsort(quantised, kind="stable")  # a radix sort for 16-bit keys
    cols = -(-width // CELL_PX)
    ys, xs = np.divmod(order, width)
    cells = ((ys // CELL_PX) * cols + xs // CELL_PX).astype(np.int32)
    shiny = np.flatnonzero(scene.specular) if scene.specular is not None else np.zeros(0, int)
    return DepthIndex(
        level_map=quantised.reshape(height, width),
        levels=quantised[order],
        cells=cells,
        cell_grid_shape=(-(-height // CELL_PX), cols),
        depth_min=depth_min,
        mm_per_level=mm_per_level,
        highlight_levels=np.sort(quantised[shiny]),
    )
