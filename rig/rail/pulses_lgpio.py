"""STEP pulse trains queued with ``lgpio.tx_pulse`` (a Raspberry Pi with lgpio).

What lgpio (lg v0.2.2) does with a queued train, read in its source, and what
that asks of this back-end:

* Pulses are timed by lgpio's own thread (``lgPthTx.c``, ``lgPthTx``), so
  Python hiccups do not disturb a train that is queued.
* A cycle must last *more* than ``lgMinTxDelay`` = 10 µs, or ``tx_pulse``
  fails with "bad PWM micros" (``lgGpio.c``, ``xSetAsPwm``): STEP high + low
  is at least :data:`LG_MIN_CYCLE_US`, whatever the driver chip allows.
* A GPIO queues at most ``LG_TX_BUF`` = 10 entries, the playing one included
  (``lgPthTx.h``; ``lgTxRoom``), each one (high µs, low µs, cycles).  A ramp
  changes period every step, so one entry per step would hold only a few ms of
  motion (2.4 ms with the example config): Python away longer and the motor
  runs dry.  Ramp steps are therefore grouped into stairs of at least
  :data:`MIN_ENTRY_US` played at their mean period, so a full queue holds tens of
  ms, and the stairs are short enough (and the speed step between them small
  enough, :data:`MAX_STAIR_RATIO`) for the motor to follow.
* A train queued while none plays starts at the thread's next wake-up (it
  sleeps up to 20 ms when idle) plus up to one cycle (``lgGpioCreateTxRec``),
  so where a train is in time is an estimate; the count of steps is not.
* ``tx_pulse(h, gpio, 0, 0)`` cancels a train only while one plays; with
  nothing queued it fails with "bad PWM micros" (``xSetAsPwm``).  A cancel
  leaves the line at whatever level it had (``lgPthTx`` only stops the record),
  so STEP is then driven low.

A graceful stop acts within the look-ahead: nothing more of the plan is
queued, a deceleration tail is, every queued pulse still goes out and the count
stays exact.  An abort cancels the queue; the count is then an estimate and the
rail says so.  If Python is away longer than the look-ahead the queue runs dry,
the motor stops, and the rest of the move ramps up again from rest (counted as
late).  Whatever lgpio refuses mid-move, the train is cancelled before the
error goes up (so the driver is never disabled under a playing train) and it
goes up as a :class:`~rig.rail.errors.PulseError`.

``lgpio`` is imported lazily so this module loads anywhere.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Iterable, Iterator
from types import ModuleType

from rig.rail.drivers import DriverTiming
from rig.rail.errors import PulseError
from rig.rail.profile import MotionProfile
from rig.rail.pulses import SYSTEM_CLOCK, Clock, MoveControl, RunResult, StepPulser

LG_MIN_CYCLE_US = 11  # on + off must exceed lgMinTxDelay (10 µs), lgGpio.c xSetAsPwm
LG_TX_SLOTS = 10  # LG_TX_BUF, lgPthTx.h: queue entries per GPIO, the playing one included
LOOKAHEAD_US = 60_000  # motion queued ahead of the motor at most: bounds the stop latency
MIN_ENTRY_US = 5_000  # a queue entry spans at least this (ramp steps grouped into stairs)
MAX_ENTRY_US = 20_000  # ... and equal steps (the cruise) at most this
MAX_STAIR_RATIO = 1.25  # longest / shortest step period grouped into one stair
POLL_S = 0.001  # longest nap while the queue is full


def lgpio_step_cycle_us(timing: DriverTiming) -> tuple[int, int]:
    """STEP high and shortest low time in whole µs, for ``timing`` on lgpio.

    lgpio works in whole µs and its thread jitters: one µs of margin on the
    driver's own limits; then the low time grows until the cycle is one lgpio
    accepts.
    """
    on_us = max(2, math.ceil(timing.min_high_ns / 1000) + 1)
    off_us = max(2, math.ceil(timing.min_low_ns / 1000) + 1, LG_MIN_CYCLE_US - on_us)
    return on_us, off_us


def lgpio_min_period_ns(timing: DriverTiming) -> int:
    """Shortest STEP period lgpio can queue for ``timing`` (for the config's speed check)."""
    return sum(lgpio_step_cycle_us(timing)) * 1000


def queue_entries(
    cycles_us: Iterable[int],
    *,
    min_us: int = MIN_ENTRY_US,
    max_us: int = MAX_ENTRY_US,
    max_ratio: float = MAX_STAIR_RATIO,
) -> Iterator[tuple[int, int]]:
    """Group per-step cycles into queue entries ``(cycle µs, count)``.

    Runs of equal cycles (the cruise) go together up to ``max_us``.  Unequal
    ones (a ramp) are gathered until they span ``min_us`` (or their periods
    would differ by more than ``max_ratio``) and then played at their mean
    period, rounded up: a stair instead of a slope, never faster than the plan.
    """
    total = count = 0
    shortest = longest = 0
    for cycle in cycles_us:
        if count:
            uniform = shortest == longest == cycle
            low, high = min(shortest, cycle), max(longest, cycle)
            if uniform:
                fits = total + cycle <= max_us
            else:
                fits = total < min_us and high <= max_ratio * low
            if fits:
                total, count, shortest, longest = total + cycle, count + 1, low, high
                continue
            yield -(-total // count), count
        total, count, shortest, longest = cycle, 1, cycle, cycle
    if count:
        yield -(-total // count), count


class LgpioPulser(StepPulser):
    """STEP/DIR claimed directly on a gpiochip; pulses queued with ``tx_pulse``.

    :param chip: the gpiochip the rest of the rig's pins are on (gpiozero's
        factory ``chip``): STEP/DIR must be on the same chip as ENABLE.
    :param lgpio: the module to use (tests pass a fake).
    :param clock: time source and sleeps (tests pass a virtual clock).
    """

    def __init__(
        self,
        step_pin: int,
        dir_pin: int,
        timing: DriverTiming,
        *,
        chip: int = 0,
        lgpio: ModuleType | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(timing)
        self._lg = lgpio if lgpio is not None else importlib.import_module("lgpio")
        self._clock = clock
        self._step, self._dir = step_pin, dir_pin
        self.chip = chip
        self._handle = self._lg.gpiochip_open(chip)
        try:
            self._lg.gpio_claim_output(self._handle, step_pin, 0)
            self._lg.gpio_claim_output(self._handle, dir_pin, 0)
        except BaseException:
            self._lg.gpiochip_close(self._handle)
            raise
        self._on_us, self._off_us = lgpio_step_cycle_us(timing)

    @property
    def min_period_ns(self) -> int:
        return (self._on_us + self._off_us) * 1000

    def run(self, profile: MotionProfile, dir_level: bool, control: MoveControl) -> RunResult:
        if profile.steps == 0:
            return RunResult(0, exact=True)
        try:
            return self._run(profile, dir_level, control)
        except BaseException as exc:
            self._silence()  # before anyone disables the driver under a playing train
            if isinstance(exc, self._lg.error):
                raise PulseError(
                    f"lgpio refused the STEP pulse train ({exc}); the motor was stopped and "
                    "the position is unknown: home the rail"
                ) from exc
            raise

    def _cycles_us(self, intervals: Iterable[int]) -> Iterator[tuple[int, int]]:
        shortest = self._on_us + self._off_us
        yield from queue_entries(max(round(gap / 1000), shortest) for gap in intervals)
        yield shortest, 1  # the last step only needs its own low time

    def _run(self, profile: MotionProfile, dir_level: bool, control: MoveControl) -> RunResult:
        lg, handle, step, clock = self._lg, self._handle, self._step, self._clock
        started = clock.now_ns()
        lg.gpio_write(handle, self._dir, int(dir_level))
        clock.wait_until(clock.now_ns() + self.timing.dir_setup_ns)

        plan, plan_start = profile, 0  # the plan in force and the step it began at
        entries = self._cycles_us(plan.intervals())
        schedule: list[tuple[int, int, int]] = []  # (start ns, cycle µs, count)
        queued_steps = underruns = 0
        queue_end = 0  # when the queued pulses should be done (an estimate, see above)
        stopping = False

        def room() -> bool:
            ahead = queue_end - clock.now_ns()
            return ahead < LOOKAHEAD_US * 1000 and lg.tx_room(handle, step, lg.TX_PWM) > 0

        def nap() -> None:
            # Wake well before the queue can run dry (half of what is queued).
            ahead_s = (queue_end - clock.now_ns()) / 2e9
            clock.sleep(min(POLL_S, max(ahead_s, POLL_S / 20)))

        while True:
            while not room():
                if control.abort_due() or (not stopping and control.stop_event.is_set()):
                    break
                control.emitted = _steps_started(schedule, clock.now_ns())
                nap()
            if control.abort_due():
                return self._abort(schedule, control, started)
            if not stopping and control.stop_event.is_set():
                stopping = True
                if queued_steps == 0:
                    break
                tail = plan.stop_tail(queued_steps - plan_start + 1)
                if tail is not None:
                    entries = self._cycles_us(tail)
                continue  # wait for room again before queuing the tail
            if queued_steps and not lg.tx_busy(handle, step, lg.TX_PWM):
                # Underrun: we were away longer than the look-ahead and the motor has
                # come to rest; starting again at the old speed could stall it.
                underruns += 1
                if stopping:
                    break
                plan, plan_start = profile.from_rest(profile.steps - queued_steps), queued_steps
                entries = self._cycles_us(plan.intervals())
            entry = next(entries, None)
            if entry is None:
                break
            cycle_us, count = entry
            lg.tx_pulse(handle, step, self._on_us, cycle_us - self._on_us, 0, count)
            begins = max(queue_end, clock.now_ns())
            schedule.append((begins, cycle_us, count))
            queue_end = begins + cycle_us * count * 1000
            queued_steps += count

        while lg.tx_busy(handle, step, lg.TX_PWM):
            if control.abort_due():
                return self._abort(schedule, control, started)
            control.emitted = _steps_started(schedule, clock.now_ns())
            clock.sleep(POLL_S)
        control.emitted = queued_steps
        duration = clock.now_ns() - started
        stopped = queued_steps < profile.steps
        return RunResult(queued_steps, True, stopped, False, underruns, duration)

    def _abort(
        self, schedule: list[tuple[int, int, int]], control: MoveControl, started: int
    ) -> RunResult:
        self._silence()
        now = self._clock.now_ns()
        emitted = _steps_started(schedule, now)
        control.emitted = emitted
        return RunResult(emitted, False, False, True, 0, now - started)

    def _silence(self) -> None:
        """Cancel whatever is queued and leave STEP low; never raises an lgpio error.

        The cancel is asked only while a train plays (lgpio refuses it otherwise);
        a train that ends between the check and the cancel makes it fail harmlessly.
        """
        lg, handle, step = self._lg, self._handle, self._step
        with contextlib.suppress(lg.error):
            if lg.tx_busy(handle, step, lg.TX_PWM):
                lg.tx_pulse(handle, step, 0, 0)
        with contextlib.suppress(lg.error):
            lg.gpio_write(handle, step, 0)

    def close(self) -> None:
        lg, handle = self._lg, self._handle
        self._silence()
        try:
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
