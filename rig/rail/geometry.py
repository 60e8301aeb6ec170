"""Where things are on a rail, in steps: a pure module, from the ``[rail]`` config alone.

Positions are whole (micro)steps from the min switch.  The soft limits refuse a
target before anything moves; the legs make every move end travelling in the
configured approach direction, so the screw's backlash is always taken up from
the same side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rig.rail.errors import SoftLimitError

if TYPE_CHECKING:
    from rig.config import RailConfig


@dataclass(frozen=True)
class RailGeometry:
    """Millimetres ↔ steps, the travel, the soft limits and the approach legs of one rail."""

    config: RailConfig

    @property
    def steps_per_mm(self) -> float:
        return self.config.steps_per_mm

    def mm_to_steps(self, mm: float) -> int:
        return round(mm * self.steps_per_mm)

    @property
    def travel_steps(self) -> int:
        return self.mm_to_steps(self.config.travel_mm)

    @property
    def soft_limits_steps(self) -> tuple[int, int]:
        return self.mm_to_steps(self.config.soft_min_mm), self.mm_to_steps(self.config.soft_max_mm)

    def switch_position_steps(self, side: str) -> int:
        """Where the ``"min"`` / ``"max"`` switch triggers: 0 and the travel."""
        return 0 if side == "min" else self.travel_steps

    def check_soft_limits(self, target: int) -> None:
        """Raise :class:`SoftLimitError` if ``target`` lies outside the soft limits."""
        low, high = self.soft_limits_steps
        mm = target / self.steps_per_mm
        if target < low:
            raise SoftLimitError(
                f"move to {mm:.3f} mm refused: below the soft limit rail.soft_min_mm = "
                f"{self.config.soft_min_mm:.3f} mm; nothing moved"
            )
        if target > high:
            raise SoftLimitError(
                f"move to {mm:.3f} mm refused: above the soft limit rail.soft_max_mm = "
                f"{self.config.soft_max_mm:.3f} mm; nothing moved"
            )

    def legs(self, start: int, target: int, *, known: bool) -> list[int]:
        """Targets to visit so the last approach comes from the configured side.

        With a ``known`` position the backlash overshoot stays inside the soft
        limits, even if that takes up less backlash.
        """
        approach = 1 if self.config.approach == "forward" else -1
        backlash = self.mm_to_steps(self.config.backlash_mm)
        if backlash == 0 or (target - start) * approach > 0:
            return [target]
        overshoot = target - approach * backlash
        if known:
            low, high = self.soft_limits_steps
            overshoot = min(max(overshoot, low), high)
        return [overshoot, target] if overshoot != target else [target]
