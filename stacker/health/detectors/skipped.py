"""Frames the stacker left out (unreadable, or not registrable)."""

from __future__ import annotations

from stacker.health.findings import Finding
from stacker.health.stack_view import StackView


def find(view: StackView) -> list[Finding]:
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
        for i, reason in sorted(view.s.skipped.items())
    ]
