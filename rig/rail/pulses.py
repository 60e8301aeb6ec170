"""The interface between a rail and whatever puts STEP pulses on the wire.

A back-end owns the STEP and DIR lines.  :meth:`StepPulser.run` sets DIR,
waits the driver's setup time and emits one :class:`MotionProfile`, watching a
:class:`MoveControl` for a graceful stop (decelerate along the ramp) or an
abort (stop at once: limit switch, emergency).  It reports how many steps
reached the pin, so the rail's position stays exact.

Back-ends, one module each (like gpiozero's ``pins/``):

* :mod:`rig.rail.pulses_software` – gpiozero output devices timed in Python
  against absolute deadlines (any pin factory, including mock pins);
* :mod:`rig.rail.pulses_lgpio` – pulse trains queued with ``lgpio.tx_pulse``.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rig.rail.drivers import DriverTiming
from rig.rail.profile import MotionProfile


class MoveControl:
    """What other threads may ask of a running move, and how far it got.

    ``should_abort`` is polled before each step where the back-end can (a
    limit-switch read); ``abort()`` and ``stop()`` may be called from anywhere.
    """

    def __init__(
        self,
        *,
        stop_event: threading.Event | None = None,
        abort_event: threading.Event | None = None,
        should_abort: Callable[[], bool] | None = None,
    ) -> None:
        self.stop_event = stop_event or threading.Event()
        self.abort_event = abort_event or threading.Event()
        self.should_abort = should_abort
        self.emitted = 0  # steps on the wire so far, written by the back-end only

    def stop(self) -> None:
        self.stop_event.set()

    def abort(self) -> None:
        self.abort_event.set()

    def abort_due(self) -> bool:
        if self.abort_event.is_set():
            return True
        if self.should_abort is not None and self.should_abort():
            self.abort_event.set()
            return True
        return False


@dataclass(frozen=True)
class RunResult:
    """The outcome of one :meth:`StepPulser.run`."""

    emitted: int  # steps that reached the STEP pin
    exact: bool  # False when an abort cut a queued train and ``emitted`` is an estimate
    stopped: bool = False  # ended early by a graceful stop
    aborted: bool = False  # ended at once by an abort
    late_steps: int = 0  # steps late enough to re-base the schedule (lgpio: queue underruns)
    duration_ns: int = 0


class StepPulser(ABC):
    """Owns STEP and DIR of one driver and turns motion profiles into pulses."""

    def __init__(self, timing: DriverTiming) -> None:
        self.timing = timing

    @property
    def min_period_ns(self) -> int:
        """Shortest STEP period this back-end can produce for this driver."""
        return self.timing.min_period_ns

    @abstractmethod
    def run(self, profile: MotionProfile, dir_level: bool, control: MoveControl) -> RunResult:
        """Set DIR to ``dir_level`` and emit ``profile``; blocks until the move ends."""

    @abstractmethod
    def close(self) -> None:
        """Release STEP and DIR (left low)."""

    def __enter__(self) -> StepPulser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def spin_until(deadline_ns: int) -> None:
    """Busy-wait until ``perf_counter_ns()`` reaches ``deadline_ns`` (µs-scale waits)."""
    while time.perf_counter_ns() < deadline_ns:
        pass


# Sleep in the kernel until this close to a deadline, then spin: Linux wakes
# a sleeping thread 50–100 µs late, far too coarse for a STEP edge.
SPIN_WINDOW_NS = 500_000


def wait_until(deadline_ns: int) -> None:
    """Sleep most of the way to ``deadline_ns`` and spin the rest."""
    remaining = deadline_ns - time.perf_counter_ns()
    if remaining > SPIN_WINDOW_NS:
        time.sleep((remaining - SPIN_WINDOW_NS) / 1e9)
    spin_until(deadline_ns)


class Clock(Protocol):
    """Where a back-end reads the time and waits (tests hand in a virtual one)."""

    def now_ns(self) -> int:
        """Monotonic time in ns."""

    def sleep(self, seconds: float) -> None:
        """Give up the CPU for about ``seconds``."""

    def wait_until(self, deadline_ns: int) -> None:
        """Return once :meth:`now_ns` has reached ``deadline_ns`` (µs-precise)."""


class SystemClock:
    """``time.perf_counter_ns`` and real sleeps."""

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait_until(self, deadline_ns: int) -> None:
        wait_until(deadline_ns)


SYSTEM_CLOCK = SystemClock()
