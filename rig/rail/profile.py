"""Trapezoidal motion profiles as exact lists of STEP intervals (a pure module).

A move of ``n`` steps has ``n - 1`` intervals: step 0 fires at once, step ``k``
fires ``interval[k - 1]`` nanoseconds after step ``k - 1``.  Accelerating from
rest at ``a`` steps/s², step ``k`` is due at ``sqrt(2k / a)``, so the ramp is
the difference of consecutive square roots, floored at the cruise interval.
Deceleration mirrors the ramp, which makes the profile symmetric and its step
count exact by construction.  Moves too short to reach cruise speed get a
triangle profile (up as far as half the move, then down again).

Intervals are integers (ns) so back-ends and tests compare them exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class MotionProfile:
    """The timing of one move, from rest to rest.

    ``ramp[k]`` is the interval after step ``k`` while accelerating from rest
    (level ``k + 1``); the profile uses ``ramp[:accel_count]`` going up,
    ``cruise_count`` intervals of ``cruise_ns`` and ``ramp[:decel_count]``
    reversed coming down.
    """

    steps: int
    ramp: tuple[int, ...]
    accel_count: int
    cruise_count: int
    cruise_ns: int
    decel_count: int

    @property
    def interval_count(self) -> int:
        return max(self.steps - 1, 0)

    @property
    def duration_ns(self) -> int:
        """Time from the first to the last STEP edge."""
        return (
            sum(self.ramp[: self.accel_count])
            + self.cruise_count * self.cruise_ns
            + sum(self.ramp[: self.decel_count])
        )

    def interval(self, index: int) -> int:
        """Interval after step ``index`` (0-based), in ns."""
        if index < self.accel_count:
            return self.ramp[index]
        index -= self.accel_count
        if index < self.cruise_count:
            return self.cruise_ns
        index -= self.cruise_count
        if index < self.decel_count:
            return self.ramp[self.decel_count - 1 - index]
        raise IndexError("interval index beyond the end of the move")

    def intervals(self) -> Iterator[int]:
        """All intervals in order (``steps - 1`` of them)."""
        yield from self.ramp[: self.accel_count]
        for _ in range(self.cruise_count):
            yield self.cruise_ns
        yield from reversed(self.ramp[: self.decel_count])

    def level(self, index: int) -> int:
        """How many ramp steps of speed interval ``index`` stands on (0 = at rest)."""
        if index < self.accel_count:
            return index + 1
        if index < self.accel_count + self.cruise_count:
            return self.accel_count
        return self.interval_count - index

    def from_rest(self, steps: int) -> MotionProfile:
        """The same speed and acceleration for ``steps`` more steps, starting from rest.

        For a move that stalled (the motor came to rest mid-move): it must
        ramp up again rather than resume at the speed it had.
        """
        return _shape(steps, self.ramp, self.cruise_ns)

    def stop_tail(self, emitted: int) -> tuple[int, ...] | None:
        """Intervals that bring the move to rest after ``emitted`` steps.

        ``None`` means the rest of the planned move already decelerates at
        least as fast, so the plan should simply continue.  Otherwise the tail
        mirrors the ramp down from the current speed: it adds as many steps as
        it took to reach that speed, so the deceleration never exceeds the
        configured acceleration.
        """
        if emitted <= 1 or emitted >= self.steps:
            return ()
        level = self.level(emitted - 2)
        remaining = self.interval_count - (emitted - 1)
        if remaining <= level:
            return None
        return tuple(reversed(self.ramp[:level]))


def ramp_intervals(accel: float, cruise_ns: int, limit: int) -> tuple[int, ...]:
    """Intervals accelerating from rest at ``accel`` steps/s² until cruise speed.

    At most ``limit`` intervals are produced (a short move never needs more).
    """
    if accel <= 0:
        raise ValueError("acceleration must be positive")
    ramp: list[int] = []
    previous = 0
    k = 1
    while len(ramp) < limit:
        due = round(math.sqrt(2.0 * k / accel) * NS_PER_S)
        interval = due - previous
        if interval <= cruise_ns:
            break
        ramp.append(interval)
        previous = due
        k += 1
    return tuple(ramp)


def plan_move(steps: int, max_speed: float, accel: float, min_period_ns: int) -> MotionProfile:
    """Plan a rest-to-rest move of ``steps`` steps.

    ``max_speed`` is in steps/s, ``accel`` in steps/s², ``min_period_ns`` the
    shortest STEP period the driver (or back-end) accepts.
    """
    if steps < 0:
        raise ValueError("a move has a non-negative number of steps; direction is separate")
    if max_speed <= 0:
        raise ValueError("maximum speed must be positive")
    cruise_ns = max(round(NS_PER_S / max_speed), min_period_ns)
    ramp = ramp_intervals(accel, cruise_ns, limit=steps // 2)
    return _shape(steps, ramp, cruise_ns)


def _shape(steps: int, ramp: tuple[int, ...], cruise_ns: int) -> MotionProfile:
    """Trapezoid if the move is long enough to reach cruise speed, else a triangle."""
    total = max(steps - 1, 0)
    ramp = ramp[: (total + 1) // 2]
    if total >= 2 * len(ramp):
        accel_count = decel_count = len(ramp)
        cruise_count = total - 2 * len(ramp)
    else:
        accel_count = (total + 1) // 2
        decel_count = total // 2
        cruise_count = 0
    return MotionProfile(steps, ramp, accel_count, cruise_count, cruise_ns, decel_count)
