"""From the per-frame curves (and the plan, when known) to findings: a pure function.

Every finding is measured against the stack itself — a frame against its neighbours, a
pair of frames against the other pairs — with robust estimates (median, MAD), and a
floor in the user's terms (a few percent of light, a fraction of the frame) so that a
perfectly steady stack's tiny wobbles never read as faults.  Causes are tried from the
most specific: frames taken out of order, then focus gaps, then range, light, motion;
vibration last, for what none of them explains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stacker.health.series import Series, robust_sigma

Kind = Literal["order", "skipped", "focus_gap", "range", "light", "motion", "vibration"]
Severity = Literal["info", "warning", "bad"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "bad")

# How far (in robust σ of the stack's own spread) a frame or a pair must stand out.
OUTLIER_Z = 6.0
# Below these, a deviation does not matter to the picture, however unusual it is.
MIN_GAP_STOPS = 1.0  # a neighbour frame shows half the detail of the frame in focus
WHOLE_STACK_GAP_STOPS = 2.0  # ... a quarter, between every pair
MIN_FLICKER = 0.03  # 3 % of the light: worth a note ...
FLICKER_WARNING = 0.08  # ... 8 %: worth a warning (the stacker evens out less)
MIN_DRIFT = 0.10  # 10 % over the stack
MIN_MOVE = 0.0025  # of the frame width
MIN_PART_CHANGE = 0.07  # log₂ of a cell's level: 5 %
MIN_BLUR_STOPS = 0.2  # a frame shows 13 % less detail than its neighbours
RANGE_WARNING, RANGE_BAD = 0.05, 0.20  # of the area that responds to focus
# A change of magnification this many times the neighbouring steps' is a focus jump.
_SCALE_JUMP = 2.5
# A pair's drop D grows as step^1.15 on the simulated bench (4× the step: 0.53 → 2.6).
_GAP_EXPONENT = 1.15


@dataclass(frozen=True)
class Box:
    """A region of the frame, as fractions of its width and height."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Finding:
    kind: Kind
    severity: Severity
    frames: tuple[int, ...]
    summary: str  # what was measured, one line
    advice: str  # what to change, in the user's terms
    value: float
    unit: str
    region: Box | None = None  # None: the whole frame


@dataclass(frozen=True)
class PlanInfo:
    """What the plan said, when the stack came from one."""

    positions: Sequence[float] | None = None  # focus positions in capture order
    unit: Literal["mm", "dioptres"] = "mm"
    settle_s: float | None = None


@dataclass
class Health:
    findings: list[Finding]
    frames: list[dict[str, float | None]] = field(default_factory=list)  # chart data

    @property
    def status(self) -> Literal["ok", "warnings", "bad"]:
        severities = {f.severity for f in self.findings}
        return "bad" if "bad" in severities else "warnings" if "warning" in severities else "ok"

    @property
    def problems(self) -> int:
        """Findings that are more than information."""
        return sum(1 for f in self.findings if f.severity != "info")


def assess(series: Series, plan: PlanInfo | None = None) -> Health:
    plan = plan or PlanInfo()
    ctx = _Context(series, plan)
    findings: list[Finding] = []
    findings += ctx.skipped()
    findings += ctx.order()
    findings += ctx.gaps()
    findings += ctx.range()
    findings += ctx.light()
    findings += ctx.motion()
    findings += ctx.moved_parts()
    findings += ctx.vibration()
    findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.frames))
    return Health(findings, ctx.chart())


class _Context:
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

    # -- helpers -------------------------------------------------------------------
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

    def _box(self, cells: np.ndarray) -> Box | None:
        """The box around ``cells`` (positions among the responsive cells)."""
        return self._box_of(self.cells[cells])

    def _box_of(self, grid_cells: np.ndarray) -> Box | None:
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

    def _step_um(self, a: int, b: int) -> float | None:
        pos = self.plan.positions
        if pos is None or self.plan.unit != "mm" or max(a, b) >= len(pos):
            return None
        return abs(pos[b] - pos[a]) * 1000.0

    # -- findings ------------------------------------------------------------------
    def skipped(self) -> list[Finding]:
        return [
            Finding(
                "skipped",
                "warning",
                (i,),
                f"frame {i} was left out of the stack: {reason}",
                "check that frame (something in front of the lens, a bump, the light off); "
                "its focus band is missing from the result",
                1.0,
                "frames",
            )
            for i, reason in sorted(self.s.skipped.items())
        ]

    def order(self) -> list[Finding]:
        """Two neighbours whose sharpness curves run smoother swapped were taken out of
        order (the focus went back and forth)."""
        out: list[Finding] = []
        S, n = self.S, len(self.present)
        p = 1
        while p + 2 < n:
            w = S[p - 1 : p + 3]
            as_taken = _roughness(w)
            swapped = _roughness(w[[0, 2, 1, 3]])
            if as_taken > 0 and swapped < as_taken / 3 and self._d2_big(w):
                a, b = self.present[p], self.present[p + 1]
                self.explained |= {a, b}
                out.append(
                    Finding(
                        "order",
                        "warning",
                        (a, b),
                        f"frames {a} and {b} look taken in the wrong order: the focus went "
                        "back before it went on",
                        "check the rail for backlash or a missed step, and that the frames "
                        "sort in capture order by name",
                        round(as_taken / max(swapped, 1e-9), 2),
                        "× smoother swapped",
                    )
                )
                p += 2
            else:
                p += 1
        return out

    def _d2_big(self, window: np.ndarray) -> bool:
        """The window's bends stand out from the stack's usual bends."""
        if len(self.S) < 5:
            return True
        d2 = np.abs(self.S[:-2] - 2 * self.S[1:-1] + self.S[2:])
        typical = float(np.median(d2)) + 1e-6
        here = np.abs(window[:-2] - 2 * window[1:-1] + window[2:])
        return float(np.median(here)) > 2 * typical

    def gaps(self) -> list[Finding]:
        out: list[Finding] = []
        d = self.drops
        good = d[np.isfinite(d)]
        if good.size < 2:
            return out
        median = float(np.median(good))
        sigma = max(robust_sigma(good), 0.05)
        scale_ratio = _local_ratio(np.abs(np.diff(self.s.scale[self.present])))
        for p, value in enumerate(d):
            if not np.isfinite(value):
                continue
            a, b = self.present[p], self.present[p + 1]
            if a in self.explained or b in self.explained:
                continue
            ratio = float(scale_ratio[p])
            # Unusual for this stack: by its sharpness alone, or by less when the change
            # of magnification (the focus moved further) says the same.
            by_sharpness = value - median > OUTLIER_Z * sigma and value >= 2 * median
            # The magnification says the focus moved several times its usual step here:
            # then a clear loss of sharpness is enough.
            by_scale = ratio >= _SCALE_JUMP and value >= 1.5 * median
            if not ((by_sharpness or by_scale) and value >= MIN_GAP_STOPS):
                continue
            self.explained |= {a, b}
            summary = (
                f"frames {a}–{b}: detail between them is {2**value:.1f}× less sharp in the "
                f"frame next to the one in focus (elsewhere {2**median:.1f}×)"
            )
            step = self._step_um(a, b)
            if np.isfinite(ratio) and ratio > 1.5:
                summary += f"; the image scale changed {ratio:.1f}× as much as between others"
                advice = (
                    f"the focus moved about {ratio:.1f}× the usual step here: check the rail for "
                    "slipping or a missing frame"
                )
            else:
                advice = "take a frame between these two (a smaller step)"
            if step is not None:
                advice += f" (planned step {step:.0f} µm)"
            area = np.isin(self.peak, (p, p + 1))
            out.append(
                Finding(
                    "focus_gap",
                    "bad" if value >= 3 * MIN_GAP_STOPS else "warning",
                    (a, b),
                    summary,
                    advice,
                    round(value, 2),
                    "stops",
                    self._box(np.flatnonzero(area)),
                )
            )
        if median >= WHOLE_STACK_GAP_STOPS:
            first, last = self.present[0], self.present[-1]
            step = self._step_um(first, self.present[1])
            target = (MIN_GAP_STOPS / median) ** (1 / _GAP_EXPONENT)
            advice = (
                f"use a step of at most {step * target:.0f} µm (now {step:.0f} µm)"
                if step is not None
                else f"use a step {target:.1f}× the current one ({1 / target:.1f}× the frames)"
            )
            out.append(
                Finding(
                    "focus_gap",
                    "warning",
                    (first, last),
                    f"every step: the frame next to the one in focus shows {2**median:.1f}× less "
                    "detail, so depths between frames are never quite sharp",
                    advice,
                    round(median, 2),
                    "stops",
                )
            )
        return out

    def range(self) -> list[Finding]:
        """Cells sharpest in an end frame whose focus curve, fitted through the last three
        frames, peaks more than half a step beyond it: the subject goes on past the end."""
        out: list[Finding] = []
        n = len(self.present)
        if n < 4 or self.S.shape[1] == 0:
            return out
        for end, where in ((0, "start"), (n - 1, "end")):
            rows = [0, 1, 2] if end == 0 else [n - 1, n - 2, n - 3]
            beyond = _steps_beyond(self.S[rows]) * (self.peak == end)
            cut = beyond > 0.5
            share = float(cut.sum()) / self.S.shape[1]
            if share < RANGE_WARNING:
                continue
            extra = float(np.percentile(beyond[cut], 75))
            frame = self.present[end]
            step = self._step_um(self.present[rows[1]], frame)
            how = (
                f"by about {extra * step / 1000:.2f} mm"
                if step is not None
                else f"by about {max(1, round(extra))} more frame(s)"
            )
            out.append(
                Finding(
                    "range",
                    "bad" if share >= RANGE_BAD else "warning",
                    (frame,),
                    f"the stack {'starts' if end == 0 else 'ends'} inside the subject: "
                    f"{share:.0%} of the detail is sharpest in the "
                    f"{'first' if end == 0 else 'last'} frame and would be sharper beyond it",
                    f"extend the {where} {how}",
                    round(share, 3),
                    "of the subject",
                    self._box(np.flatnonzero(cut)),
                )
            )
        return out

    def light(self) -> list[Finding]:
        out: list[Finding] = []
        idx = self.present  # a frame the stacker could not use says nothing about light
        g = self.s.log_gain[idx]
        n = len(g)
        if n < 4:
            return out
        local = np.array([np.median(g[max(0, i - 2) : i + 3]) for i in range(n)])
        resid = g - local
        sigma = max(robust_sigma(resid), 1e-4)
        for p in range(n):
            i = idx[p]
            change = 2 ** resid[p] - 1
            if abs(resid[p]) > OUTLIER_Z * sigma and abs(change) >= MIN_FLICKER:
                self.explained.add(i)
                out.append(
                    Finding(
                        "light",
                        "warning" if abs(change) >= FLICKER_WARNING else "info",
                        (i,),
                        f"frame {i} is {abs(change):.0%} {'brighter' if change > 0 else 'darker'}"
                        " than its neighbours (flicker)",
                        "check the LED supply and dimming (PWM frequency high enough for the "
                        "exposure, or full brightness), and stray light",
                        round(change, 4),
                        "of the light",
                    )
                )
        steady = np.array([p for p in range(n) if idx[p] not in self.explained])
        x = np.asarray(idx, float)
        slope = _theil_sen(x[steady], g[steady]) if steady.size >= 4 else 0.0
        total = 2 ** (slope * (idx[-1] - idx[0])) - 1
        if abs(total) >= MIN_DRIFT:
            out.append(
                Finding(
                    "light",
                    "warning",
                    (idx[0], idx[-1]),
                    f"the light {'rose' if total > 0 else 'fell'} by {abs(total):.0%} from the "
                    "first frame to the last (a trend)",
                    "let the LED warm up before the stack, fix the exposure, and keep daylight out",
                    round(total, 4),
                    "of the light",
                )
            )
        return out

    def motion(self) -> list[Finding]:
        out: list[Finding] = []
        idx = [i for i in self.present if np.isfinite(self.s.shift[i]).all()]
        if len(idx) < 4:
            return out
        steps = np.diff(self.s.shift[idx], axis=0)
        resid = steps - np.median(steps, axis=0)
        sigma = max(robust_sigma(resid[:, 0]), robust_sigma(resid[:, 1]), 0.05)
        width = self.s.size[0]
        for p, (dx, dy) in enumerate(resid):
            size = float(np.hypot(dx, dy))
            if size > OUTLIER_Z * sigma and size >= MIN_MOVE * width:
                frame = idx[p + 1]
                self.explained.add(frame)
                out.append(
                    Finding(
                        "motion",
                        "bad" if size >= 8 * MIN_MOVE * width else "warning",
                        (idx[p], frame),
                        f"the subject or the camera moved by {size:.0f} px ({size / width:.1%} "
                        f"of the frame) between frames {idx[p]} and {frame}",
                        "aligned, but look for ghosting at edges; secure the subject and the "
                        "camera, and keep the table still",
                        round(size, 1),
                        "px",
                    )
                )
        return out

    def moved_parts(self) -> list[Finding]:
        """A part of the picture whose level jumps between two frames and stays — at
        that step only, far beyond the cell's own change from frame to frame (defocus
        changes a cell's mean slowly, the light changes every cell alike): something in
        it moved, and the result may show it twice (ghosting)."""
        out: list[Finding] = []
        idx = self.present
        if len(idx) < 5:
            return out
        lv = self.s.levels[idx]
        d = np.diff(lv, axis=0)
        d -= np.median(d, axis=1, keepdims=True)  # the light's own change
        centre = np.median(d, axis=0)
        spread = np.maximum(1.4826 * np.median(np.abs(d - centre), axis=0), 0.005)
        z = np.abs(d - centre) / spread
        size = np.abs(d - centre)
        # A jump, not a run: the steps before and after it are much smaller (defocus
        # moves a cell's level a little at every step while the focus passes by).
        before = np.vstack([size[:1] * 0, size[:-1]])
        after = np.vstack([size[1:], size[:1] * 0])
        alone = size > 3 * np.maximum(before, after)
        jumped = (z > OUTLIER_Z) & (size >= MIN_PART_CHANGE) & alone
        jumped[0] = jumped[-1] = False  # a jump needs a step on each side to compare
        cells = jumped.shape[1]
        for p in range(jumped.shape[0]):
            a, b = idx[p], idx[p + 1]
            count = int(jumped[p].sum())
            if count < 2 or count > cells / 2 or a in self.explained or b in self.explained:
                continue
            self.explained |= {b}
            where = np.flatnonzero(jumped[p])
            out.append(
                Finding(
                    "motion",
                    "warning",
                    (a, b),
                    f"part of the picture changed between frames {a} and {b} and stayed "
                    "changed: something in it moved",
                    "look for ghosting (a double edge) there; keep the subject still (a "
                    "live subject, a draught, a loose part) during the stack",
                    round(count / cells, 3),
                    "of the picture",
                    self._box_of(where),
                )
            )
        return out

    def vibration(self) -> list[Finding]:
        out: list[Finding] = []
        S, n = self.S, len(self.present)
        if n < 4 or S.shape[1] == 0:
            return out
        v = np.full(n, np.nan)
        for p in range(1, n - 1):
            v[p] = float(np.median(S[p] - 0.5 * (S[p - 1] + S[p + 1])))
        # A blurred frame dips below its neighbours and lifts theirs by half as much
        # (they are compared with it): v[p] minus its neighbours' v is 1.5× the dip,
        # while the slow change of v along the stack (the curves' bend) cancels.
        dip = np.full(n, np.nan)
        for p in range(1, n - 1):
            around = [v[q] for q in (p - 1, p + 1) if np.isfinite(v[q])]
            if around:
                dip[p] = float(np.mean(around)) - v[p]
        good = dip[np.isfinite(dip)]
        median, sigma = float(np.median(good)), max(robust_sigma(good), 0.02)
        level = float(np.median(v[np.isfinite(v)]))
        settle = self.plan.settle_s
        for p in range(1, n - 1):
            frame = self.present[p]
            if frame in self.explained or any(
                self.present[q] in self.explained for q in (p - 1, p + 1)
            ):
                continue
            drop = level - v[p]
            if dip[p] - median > OUTLIER_Z * sigma and drop >= MIN_BLUR_STOPS:
                advice = (
                    f"raise settle from {settle:g} s to {max(2 * settle, settle + 0.3):g} s"
                    if settle is not None
                    else "give the rig more time to settle before each frame"
                ) + ", and keep the table and the room still"
                out.append(
                    Finding(
                        "vibration",
                        "bad" if drop >= 1.0 else "warning",
                        (frame,),
                        f"frame {frame} is blurred everywhere: {2**drop:.1f}× less detail than "
                        "its neighbours at nearly the same focus",
                        advice,
                        round(drop, 2),
                        "stops",
                    )
                )
        return out

    # -- chart -----------------------------------------------------------------------
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


def _roughness(window: np.ndarray) -> float:
    """Sum over cells of the squared bends of four frames' curves."""
    d2 = window[:-2] - 2 * window[1:-1] + window[2:]
    return float(np.sum(d2 * d2))


# Beyond this many steps a fitted peak is extrapolation, not measurement (a far background).
_MAX_BEYOND = 4.0


def _steps_beyond(rows: np.ndarray) -> np.ndarray:
    """Per cell, how many steps beyond the first row a parabola through three rows of
    log sharpness (the end frame first) peaks; 0 where it peaks at or inside the end,
    where the curve is not bent like a peak, or where it would peak implausibly far."""
    d1 = rows[0] - rows[1]  # rise into the end frame
    d2 = rows[1] - rows[2]
    c = (d1 - d2) / 2.0  # a peak beyond the end: the rise flattens towards it
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c < 0, (1.0 + d1 / c) / 2.0, 0.0)  # position, in steps inward
    out = np.where((d1 > 0) & (c < 0), -vertex, 0.0)
    return np.where(out <= _MAX_BEYOND, np.maximum(out, 0.0), 0.0)


def _local_ratio(steps: np.ndarray, reach: int = 3) -> np.ndarray:
    """Each step over the median of its neighbours' (``reach`` each side, not itself):
    how much larger than the steps around it (NaN where unknown)."""
    out = np.full(len(steps), np.nan)
    for i in range(len(steps)):
        around = np.r_[steps[max(0, i - reach) : i], steps[i + 1 : i + 1 + reach]]
        around = around[np.isfinite(around)]
        typical = float(np.median(around)) if around.size else 0.0
        if typical > 0 and np.isfinite(steps[i]):
            out[i] = steps[i] / typical
    return out


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    """Median of pairwise slopes: a line fit that outliers do not pull."""
    i, j = np.triu_indices(len(x), 1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))
