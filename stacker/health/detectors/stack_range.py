"""Range: the stack starts or ends inside the subject."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import Finding
from stacker.health.stack_view import StackView

RANGE_WARNING, RANGE_BAD = 0.05, 0.20  # of the area that responds to focus
# Beyond this many steps a fitted peak is extrapolation, not measurement (a far background).
_MAX_BEYOND = 4.0


def find(view: StackView) -> list[Finding]:
    """Cells sharpest in an end frame whose focus curve, fitted through the last three
    frames, peaks more than half a step beyond it: the subject goes on past the end."""
    out: list[Finding] = []
    n = len(view.present)
    if n < 4 or view.S.shape[1] == 0:
        return out
    for end, where in ((0, "start"), (n - 1, "end")):
        rows = [0, 1, 2] if end == 0 else [n - 1, n - 2, n - 3]
        beyond = _steps_beyond(view.S[rows]) * (view.peak == end)
        cut = beyond > 0.5
        share = float(cut.sum()) / view.S.shape[1]
        if share < RANGE_WARNING:
            continue
        extra = float(np.percentile(beyond[cut], 75))
        frame = view.present[end]
        step = view.step_um(view.present[rows[1]], frame)
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
                view.box(np.flatnonzero(cut)),
            )
        )
    return out


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
