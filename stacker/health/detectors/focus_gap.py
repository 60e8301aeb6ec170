"""Focus gaps: a pair of frames, or every pair, too far apart in focus."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import OUTLIER_Z, Finding
from stacker.health.series import robust_sigma
from stacker.health.stack_view import StackView

MIN_GAP_STOPS = 1.0  # a neighbour frame shows half the detail of the frame in focus
WHOLE_STACK_GAP_STOPS = 2.0  # ... a quarter, between every pair
# A change of magnification this many times the neighbouring steps' is a focus jump.
_SCALE_JUMP = 2.5
# A pair's drop D grows as step^1.15 on the simulated bench (4× the step: 0.53 → 2.6).
_GAP_EXPONENT = 1.15


def find(view: StackView) -> list[Finding]:
    out: list[Finding] = []
    d = view.drops
    good = d[np.isfinite(d)]
    if good.size < 2:
        return out
    median = float(np.median(good))
    sigma = max(robust_sigma(good), 0.05)
    scale_ratio = _local_ratio(np.abs(np.diff(view.s.scale[view.present])))
    for p, value in enumerate(d):
        if not np.isfinite(value):
            continue
        a, b = view.present[p], view.present[p + 1]
        if a in view.explained or b in view.explained:
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
        view.explained |= {a, b}
        summary = (
            f"frames {a}–{b}: detail between them is {2**value:.1f}× less sharp in the "
            f"frame next to the one in focus (elsewhere {2**median:.1f}×)"
        )
        step = view.step_um(a, b)
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
        area = np.isin(view.peak, (p, p + 1))
        out.append(
            Finding(
                "focus_gap",
                "bad" if value >= 3 * MIN_GAP_STOPS else "warning",
                (a, b),
                summary,
                advice,
                round(value, 2),
                "stops",
                view.box(np.flatnonzero(area)),
            )
        )
    if median >= WHOLE_STACK_GAP_STOPS:
        first, last = view.present[0], view.present[-1]
        step = view.step_um(first, view.present[1])
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
