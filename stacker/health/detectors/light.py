"""Light: a frame brighter or darker than its neighbours (flicker), or a trend."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import OUTLIER_Z, Finding
from stacker.health.series import robust_sigma
from stacker.health.stack_view import StackView

MIN_FLICKER = 0.03  # 3 % of the light: worth a note ...
FLICKER_WARNING = 0.08  # ... 8 %: worth a warning (the stacker evens out less)
MIN_DRIFT = 0.10  # 10 % over the stack


def find(view: StackView) -> list[Finding]:
    out: list[Finding] = []
    idx = view.present  # a frame the stacker could not use says nothing about light
    g = view.s.log_gain[idx]
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
            view.explained.add(i)
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
    steady = np.array([p for p in range(n) if idx[p] not in view.explained])
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


def _theil_sen(x: np.ndarray, y: np.ndarray) -> float:
    """Median of pairwise slopes: a line fit that outliers do not pull."""
    i, j = np.triu_indices(len(x), 1)
    return float(np.median((y[j] - y[i]) / (x[j] - x[i])))
