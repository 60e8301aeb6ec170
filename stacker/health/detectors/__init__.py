"""One module per kind of finding; each ``find(view)`` returns its findings.

They run in this order, from the most specific cause to the least: a frame one detector
explains (``view.explained``) is left alone by those after it, so frames taken out of
order are not also a focus gap, and a flicker or a shift is not also vibration.
"""

from __future__ import annotations

from collections.abc import Callable

from stacker.health.detectors import (
    focus_gap,
    light,
    motion,
    order,
    skipped,
    stack_range,
    vibration,
)
from stacker.health.findings import Finding
from stacker.health.stack_view import StackView

Detector = Callable[[StackView], list[Finding]]

DETECTORS: tuple[Detector, ...] = (
    skipped.find,
    order.find,
    focus_gap.find,
    stack_range.find,
    light.find,
    motion.find_shift,
    motion.find_moved_part,
    vibration.find,
)
