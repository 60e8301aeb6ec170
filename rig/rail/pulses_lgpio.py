"""STEP pulse trains queued with ``lgpio.tx_pulse`` (a Raspberry Pi with lgpio).

lgpio times queued pulses in its own thread, so Python hiccups do not
disturb the train.  A move becomes segments of equal period (each ramp step,
then the cruise in chunks of at most ``SEGMENT_MAX_US``), queued while
``tx_room`` allows and no more than ``LOOKAHEAD_US`` ahead of the motor.  A
graceful stop therefore acts within the look-ahead: nothing more of the plan
is queued, a deceleration tail is, and every queued pulse still goes out, so
the count stays exact.  An abort cancels the queue (``tx_pulse(h, gpio, 0,
0)``); the count is then an estimate from the elapsed time and the rail says so.
If Python is away longer than the look-ahead the queue runs dry and the motor
stops; the rest of the move then ramps up again from rest (counted as late).

``lgpio`` is imported lazily so this module loads anywhere.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Iterable, Iterator
from types import ModuleType

from rig.rail.drivers import DriverTiming
from rig.rail.profile import MotionProfile
from rig.rail.pulses import MoveControl, RunResult, StepPulser, spin_until

LOOKAHEAD_US = 50_000  # motion queued ahead of the motor: bounds the stop latency
SEGMENT_MAX_US = 20_000  # longest single tx_pulse entry (cruise is split)
POLL_S = 0.001  # longest nap while the queue is full
MIN_POLL_S = 0.00005  # shortest nap: fast ramp steps hold little time per queue slot


class _Segments:
    """Run-length groups of equal cycles, each at most ``max_us`` long."""

    def __init__(self, cycles: Iterable[int], max_us: int) -> None:
        self._cycles = iter(cycles)
        self._max_us = max_us
        self._held: int | None = None

    def next(self) -> tuple[int, int] | None:
        first = self._held if self._held is not None else next(self._cycles, None)
        self._held = None
        if first is None:
            return None
        count = 1
        while (count + 1) * first <= self._max_us:
            following = next(self._cycles, None)
            if following != first:
                self._held = following
                break
            count += 1
        return first, count


class LgpioPulser(StepPulser):
    """STEP/DIR claimed directly on a gpiochip; pulses queued with ``tx_pulse``."""

    def __init__(
        self,
        step_pin: int,
        dir_pin: int,
        timing: DriverTiming,
        *,
        chip: int = 0,
        lgpio: ModuleType | None = None,
    ) -> None:
        super().__init__(timing)
        self._lg = lgpio if lgpio is not None else importlib.import_module("lgpio")
        self._step, self._dir = step_pin, dir_pin
        self._handle = self._lg.gpiochip_open(chip)
        try:
            self._lg.gpio_claim_output(self._handle, step_pin, 0)
            self._lg.gpio_claim_output(self._handle, dir_pin, 0)
        except BaseException:
            self._lg.gpiochip_close(self._handle)
            raise
        # lgpio works in whole µs and its thread jitters: one µs of margin each side.
        self._on_us = max(2, math.ceil(timing.min_high_ns / 1000) + 1)
        self._off_us = max(2, math.ceil(timing.min_low_ns / 1000) + 1)

    @property
    def min_period_ns(self) -> int:
        return (self._on_us + self._off_us) * 1000

    def _cycles_us(self, intervals: Iterable[int]) -> Iterator[int]:
        shortest = self._on_us + self._off_us
        for interval in intervals:
            yield max(round(interval / 1000), shortest)
        yield shortest  # the last step only needs its own low time

    def run(self, profile: MotionProfile, dir_level: bool, control: MoveControl) -> RunResult:
        lg, handle, step = self._lg, self._handle, self._step
        started = time.perf_counter_ns()
        if profile.steps == 0:
            return RunResult(0, exact=True)
        lg.gpio_write(handle, self._dir, int(dir_level))
        spin_until(time.perf_counter_ns() + self.timing.dir_setup_ns)

        plan, plan_start = profile, 0  # the plan in force and the step it began at
        segments = _Segments(self._cycles_us(plan.intervals()), SEGMENT_MAX_US)
        schedule: list[tuple[int, int, int]] = []  # (start ns, cycle µs, count)
        queued_steps = underruns = 0
        queue_end = 0  # when the queued pulses should be done (perf_counter ns)
        stopping = False

        def room() -> bool:
            ahead = queue_end - time.perf_counter_ns()
            return ahead < LOOKAHEAD_US * 1000 and lg.tx_room(handle, step, lg.TX_PWM) > 0

        def nap() -> None:
            # Wake well before the queue can run dry (half of what is queued).
            ahead_s = (queue_end - time.perf_counter_ns()) / 2e9
            time.sleep(min(POLL_S, max(ahead_s, MIN_POLL_S)))

        while True:
            while not room():
                if control.abort_due() or (not stopping and control.stop_event.is_set()):
                    break
                control.emitted = _steps_started(schedule, time.perf_counter_ns())
                nap()
            if control.abort_due():
                return self._abort(schedule, control, started)
            if not stopping and control.stop_event.is_set():
                stopping = True
                if queued_steps == 0:
                    break
                tail = plan.stop_tail(queued_steps - plan_start + 1)
                if tail is not None:
                    segments = _Segments(self._cycles_us(tail), SEGMENT_MAX_US)
                continue  # wait for room again before queuing the tail
            if queued_steps and not lg.tx_busy(handle, step, lg.TX_PWM):
                # Underrun: we were away longer than the look-ahead and the motor has
                # come to rest; starting again at the old speed could stall it.
                underruns += 1
                if stopping:
                    break
                plan, plan_start = profile.from_rest(profile.steps - queued_steps), queued_steps
                segments = _Segments(self._cycles_us(plan.intervals()), SEGMENT_MAX_US)
            segment = segments.next()
            if segment is None:
                break
            cycle_us, count = segment
            lg.tx_pulse(handle, step, self._on_us, cycle_us - self._on_us, 0, count)
            begins = max(queue_end, time.perf_counter_ns())
            schedule.append((begins, cycle_us, count))
            queue_end = begins + cycle_us * count * 1000
            queued_steps += count

        while lg.tx_busy(handle, step, lg.TX_PWM):
            if control.abort_due():
                return self._abort(schedule, control, started)
            control.emitted = _steps_started(schedule, time.perf_counter_ns())
            time.sleep(POLL_S)
        control.emitted = queued_steps
        duration = time.perf_counter_ns() - started
        stopped = queued_steps < profile.steps
        return RunResult(queued_steps, True, stopped, False, underruns, duration)

    def _abort(
        self, schedule: list[tuple[int, int, int]], control: MoveControl, started: int
    ) -> RunResult:
        self._lg.tx_pulse(self._handle, self._step, 0, 0)  # cancels the active and queued pulses
        now = time.perf_counter_ns()
        self._lg.gpio_write(self._handle, self._step, 0)
        emitted = _steps_started(schedule, now)
        control.emitted = emitted
        return RunResult(emitted, False, False, True, 0, time.perf_counter_ns() - started)

    def close(self) -> None:
        lg, handle = self._lg, self._handle
        try:
            lg.tx_pulse(handle, self._step, 0, 0)
            lg.gpio_write(handle, self._step, 0)
            lg.gpio_free(handle, self._step)
            lg.gpio_free(handle, self._dir)
        finally:
            lg.gpiochip_close(handle)


def _steps_started(schedule: list[tuple[int, int, int]], now_ns: int) -> int:
    """How many queued steps had begun by ``now_ns`` (an estimate: lgpio keeps the time)."""
    started = 0
    for begins, cycle_us, count in schedule:
        if now_ns < begins:
            break
        started += min(count, (now_ns - begins) // (cycle_us * 1000) + 1)
    return started
