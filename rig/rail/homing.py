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
    from rig.rail.motion import MoveResult, RailMotion


def home(motion: RailMotion) -> MoveResult:
    """Run the homing sequence on the rail's motion; the caller holds the operation lock."""
    geometry = motion.geometry
    settings = geometry.config.homing
    side = settings.switch
    if motion.switch_triggered(side) is None:
        raise HomingError(f"homing to the {side} switch needs rail.pins.limit_{side}")
    toward = -1 if side == "min" else 1
    backoff = geometry.mm_to_steps(settings.backoff_mm)
    reach_mm = geometry.config.travel_mm + 2 * settings.backoff_mm
    emitted = late = 0

    def pressed() -> bool:
        return bool(motion.switch_triggered(side))

    def leg(delta: int, speed: float, expect: str | None) -> bool:
        """Run one leg; False when a stop (or emergency stop) ended it early."""
        nonlocal emitted, late
        result = motion.run_leg(delta, speed, expect=expect)
        emitted += result.emitted
        late += result.late_steps
        return not (result.stopped or (result.aborted and not pressed()))

    def stopped_here() -> MoveResult:
        return motion.result(motion.live_steps(), emitted, True, late)

    motion.engage()
    if not pressed():
        if not leg(toward * geometry.mm_to_steps(reach_mm), settings.fast_mm_s, side):
            return stopped_here()
        if not pressed():
            raise HomingError(
                f"the limit_{side} switch was not reached within {reach_mm:.1f} mm: "
                "check its wiring and [rail.switches]"
            )
    if not leg(-toward * backoff, settings.fast_mm_s, None):
        return stopped_here()
    if pressed():
        raise HomingError(
            f"the limit_{side} switch is still pressed after backing off "
            f"{settings.backoff_mm} mm: raise rail.homing.backoff_mm or check the switch"
        )
    if not leg(toward * 2 * backoff, settings.slow_mm_s, side):
        return stopped_here()
    if not pressed():
        raise HomingError(
            f"the limit_{side} switch was not found again within "
            f"{2 * settings.backoff_mm} mm of backing off: check for a loose switch"
        )
    reference = geometry.switch_position_steps(side)
    motion.set_reference(reference)
    low, high = geometry.soft_limits_steps
    park = min(max(reference - toward * backoff, low), high)
    parked = motion.move(park)
    return motion.result(
        park, emitted + parked.steps_emitted, parked.stopped, late + parked.late_steps
    )
