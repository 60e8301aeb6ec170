"""Frames taken out of order: two neighbours whose curves run smoother swapped."""

from __future__ import annotations

import numpy as np

from stacker.health.findings import Finding
from stacker.health.stack_view import StackView


def find(view: StackView) -> list[Finding]:
    """Two neighbours whose sharpness curves run smoother swapped were taken out of
    order (the focus went back and forth)."""
    out: list[Finding] = []
    S, n = view.S, len(view.present)
    p = 1
    while p + 2 < n:
        w = S[p - 1 : p + 3]
        as_taken = _roughness(w)
        swapped = _roughness(w[[0, 2, 1, 3]])
        if as_taken > 0 and swapped < as_taken / 3 and _bends_stand_out(view, w):
            a, b = view.present[p], view.present[p + 1]
            view.explained |= {a, b}
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


def _bends_stand_out(view: StackView, window: np.ndarray) -> bool:
    """The window's bends stand out from the stack's usual bends."""
    if len(view.S) < 5:
        return True
    d2 = np.abs(view.S[:-2] - 2 * view.S[1:-1] + view.S[2:])
    typical = float(np.median(d2)) + 1e-6
    here = np.abs(window[:-2] - 2 * window[1:-1] + window[2:])
    return float(np.median(here)) > 2 * typical


def _roughness(window: np.ndarray) -> float:
    """Sum over cells of the squared bends of four frames' curves."""
    d2 = window[:-2] - 2 * window[1:-1] + window[2:]
    return float(np.sum(d2 * d2))
