"""Homing: find a limit switch fast, back off, find it again slowly, park off it.

The fast approach stops hard on the switch, which may cost a step or two of
accuracy; the slow re-approach from a known short distance defines the
reference.  Afterwards the rail parks ``backoff_mm`` off the switch (inside
the soft limits) with an ordinary move, so the switch is released and the
backlash is taken up from the approach side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rig.rail.errors import HomingError

if TYPE_CHECKING:
    from rig.rail.base import StepperRail
    from rig.rail.motion import MoveResult


def home(rail: StepperRail) -> MoveResult:
    """Run the homing sequence; the caller holds the rail's operation lock."""
    settings = rail.config.homing
    side = settings.switch
    if rail.switch_triggered(side) is None:
        raise HomingError(f"homing to the {side} switch needs rail.pins.limit_{side}")
    toward = -1 if side == "min" else 1
    backoff = rail.mm_to_steps(settings.backoff_mm)
    reach_mm = rail.config.travel_mm + 2 * settings.backoff_mm
    emitted = late = 0

    def pressed() -> bool:
        return bool(rail.switch_triggered(side))

    def leg(delta: int, speed: float, expect: str | None) -> bool:
        """Run one leg; False when a stop (or emergency stop) ended it early."""
        nonlocal emitted, late
        result = rail.run_leg(delta, speed, expect=expect)
        emitted += result.emitted
        late += result.late_steps
        return not (result.stopped or (result.aborted and not pressed()))

    rail._engage()
    if not pressed():
        if not leg(toward * rail.mm_to_steps(reach_mm), settings.fast_mm_s, side):
            return rail._result(rail.position_steps, emitted, True, late)
        if not pressed():
            raise HomingError(
                f"the limit_{side} switch was not reached within {reach_mm:.1f} mm: "
                "check its wiring and [rail.switches]"
            )
    if not leg(-toward * backoff, settings.fast_mm_s, None):
        return rail._result(rail.position_steps, emitted, True, late)
    if pressed():
        raise HomingError(
            f"the limit_{side} switch is still pressed after backing off "
            f"{settings.backoff_mm} mm: raise rail.homing.backoff_mm or check the switch"
        )
    if not leg(toward * 2 * backoff, settings.slow_mm_s, side):
        return rail._result(rail.position_steps, emitted, True, late)
    if not pressed():
        raise HomingError(
            f"the limit_{side} switch was not found again within "
            f"{2 * settings.backoff_mm} mm of backing off: check for a loose switch"
        )
    reference = rail.switch_position_steps(side)
    rail._set_reference(reference)
    low, high = rail.soft_limits_steps
    park = min(max(reference - toward * backoff, low), high)
    parked = rail._move(park)
    return rail._result(
        park, emitted + parked.steps_emitted, parked.stopped, late + parked.late_steps
    )
