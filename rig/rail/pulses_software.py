"""STEP pulses timed in Python on gpiozero output devices (any pin factory).

Each step is due at an absolute deadline (the clock's, ``time.perf_counter_ns``): the
schedule does not drift with per-step overhead.  When a step is late by more
than a quarter of its interval (the scheduler preempted us, the GIL was busy)
the schedule is re-based from *now* and the step counted in ``late_steps``:
firing the missed steps back-to-back to catch up would be a speed spike the
motor may not follow, losing steps silently.  Late by more than
``STALL_INTERVALS`` intervals (and at least ``STALL_MIN_NS``), the rotor has
had time to come to rest, so the rest of the move ramps up again from rest
instead of resuming at full speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gpiozero import DigitalOutputDevice

from rig.rail.drivers import DriverTiming
from rig.rail.profile import MotionProfile
from rig.rail.pulses import SYSTEM_CLOCK, Clock, MoveControl, RunResult, StepPulser

STALL_INTERVALS = 4  # this late (and at least STALL_MIN_NS), the rotor has stopped:
STALL_MIN_NS = 1_000_000  # ramp up again from rest


class SoftwarePulser(StepPulser):
    """STEP/DIR on two :class:`gpiozero.DigitalOutputDevice` s, timed in software."""

    def __init__(
        self,
        step_pin: int,
        dir_pin: int,
        timing: DriverTiming,
        *,
        pin_factory: Any = None,
        clock: Clock = SYSTEM_CLOCK,  # tests hand in a virtual one
    ) -> None:
        super().__init__(timing)
        self._clock = clock
        self._step = DigitalOutputDevice(step_pin, initial_value=False, pin_factory=pin_factory)
        try:
            self._dir = DigitalOutputDevice(dir_pin, initial_value=False, pin_factory=pin_factory)
        except BaseException:
            self._step.close()
            raise

    def run(self, profile: MotionProfile, dir_level: bool, control: MoveControl) -> RunResult:
        clock = self._clock
        started = clock.now_ns()
        if profile.steps == 0:
            return RunResult(0, exact=True)
        self._dir.value = dir_level
        clock.wait_until(clock.now_ns() + self.timing.dir_setup_ns)

        step_on, step_off = self._step.on, self._step.off
        high_ns, low_ns = self.timing.min_high_ns, self.timing.min_low_ns
        plan, plan_start = profile, 0  # the plan in force and the step it began at
        gaps: Iterator[int] = plan.intervals()
        emitted = late = 0
        stopping = False
        deadline = clock.now_ns()
        while True:
            if control.abort_due():
                return RunResult(emitted, True, False, True, late, clock.now_ns() - started)
            if not stopping and control.stop_event.is_set():
                stopping = True
                tail = plan.stop_tail(emitted - plan_start)
                if tail is not None:
                    gaps = iter(tail)
                if emitted == 0:
                    break
            if emitted:
                gap = next(gaps, None)
                if gap is None:
                    break
                deadline += gap
                clock.wait_until(deadline)
                now = clock.now_ns()
                if now - deadline > gap // 4:
                    late += 1
                    if now - deadline > max(STALL_INTERVALS * gap, STALL_MIN_NS):
                        if stopping:
                            break  # already at rest: that is where a stop ends
                        plan, plan_start = profile.from_rest(profile.steps - emitted), emitted
                        gaps = plan.intervals()
                    # Re-base: never fire missed steps back-to-back; and leave the driver
                    # its low time (STEP may have fallen just now, at the end of the hiccup).
                    deadline = now + low_ns
                    clock.wait_until(deadline)
            step_on()
            clock.wait_until(clock.now_ns() + high_ns)
            step_off()
            emitted += 1
            control.emitted = emitted
        stopped = emitted < profile.steps
        return RunResult(emitted, True, stopped, False, late, clock.now_ns() - started)

    def close(self) -> None:
        try:
            self._step.close()
        finally:
            self._dir.close()
