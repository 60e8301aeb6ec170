"""The stack as the detectors see it, and the chart data of the report."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import Box, PlanInfo
from stacker.health.series import Series


class StackView:
    """The stack as the detectors read it: the present frames, the cells that respond to
    focus, their sharpness, where each cell peaks, and the frames a detector has already
    explained (a later, less specific detector leaves those alone)."""

    def __init__(self, series: Series, plan: PlanInfo) -> None:
        self.s = series
        self.plan = plan
        self.present = [i for i in range(series.count) if i not in series.skipped]
        self.cells = np.flatnonzero(series.responsive)
        # Sharpness of the present frames (rows) in the cells that respond to focus.
        self.S = series.sharpness[np.array(self.present, np.intp)][:, self.cells]
        # Per cell, the row (position among the present frames) where it is sharpest.
        self.peak = np.argmax(self.S, axis=0) if self.S.size else np.zeros(0, np.intp)
        self.explained: set[int] = set()
        self.drops = self._pair_drops()

    # -- shared measures -------------------------------------------------------------------
    def _pair_drops(self) -> np.ndarray:
        """Per consecutive pair of present frames: the median, over the cells sharpest in
        one of the two, of how much less detail the other one shows (log₂)."""
        n = len(self.present)
        drops = np.full(max(0, n - 1), np.nan)
        for p in range(n - 1):
            a, b = self.peak == p, self.peak == p + 1
            d = np.concatenate([self.S[p, a] - self.S[p + 1, a], self.S[p + 1, b] - self.S[p, b]])
            if d.size >= 3:
                drops[p] = float(np.median(d))
        return drops

    def box(self, cells: np.ndarray) -> Box | None:
        """The box around ``cells`` (positions among the responsive cells)."""
        return self.box_of(self.cells[cells])

    def box_of(self, grid_cells: np.ndarray) -> Box | None:
        """The box around ``grid_cells`` (indices into the whole grid)."""
        if grid_cells.size == 0:
            return None
        rows, cols = self.s.grid_shape
        r, c = np.divmod(grid_cells, cols)
        return Box(
            round(float(c.min()) / cols, 3),
            round(float(r.min()) / rows, 3),
            round(float(c.max() + 1 - c.min()) / cols, 3),
            round(float(r.max() + 1 - r.min()) / rows, 3),
        )

    def step_um(self, a: int, b: int) -> float | None:
        pos = self.plan.positions
        if pos is None or self.plan.unit != "mm" or max(a, b) >= len(pos):
            return None
        return abs(pos[b] - pos[a]) * 1000.0

    def chart(self) -> list[dict[str, float | None]]:
        total = max(1, self.S.shape[1])
        wins = np.bincount(self.peak, minlength=len(self.present))
        share = {f: float(wins[p]) / total for p, f in enumerate(self.present)}
        rows: list[dict[str, float | None]] = []
        for i in range(self.s.count):
            shift = self.s.shift[i]
            rows.append(
                {
                    "index": i,
                    "sharpest": round(share.get(i, 0.0), 4) if i not in self.s.skipped else None,
                    "light": round(float(2 ** self.s.log_gain[i] - 1), 4)
                    if np.isfinite(self.s.log_gain[i])
                    else None,
                    "shift_px": None
                    if not np.isfinite(shift).all()
                    else round(float(np.hypot(*shift)), 2),
                }
            )
        return rows
