"""Vibration: a frame blurred everywhere, that nothing else explains."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import OUTLIER_Z, Finding
from stacker.health.series import robust_sigma
from stacker.health.stack_view import StackView

MIN_BLUR_STOPS = 0.2  # a frame shows 13 % less detail than its neighbours


def find(view: StackView) -> list[Finding]:
    out: list[Finding] = []
    S, n = view.S, len(view.present)
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
    settle = view.plan.settle_s
    for p in range(1, n - 1):
        frame = view.present[p]
        if frame in view.explained or any(
            view.present[q] in view.explained for q in (p - 1, p + 1)
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
