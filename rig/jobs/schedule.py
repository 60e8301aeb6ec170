"""Schedules: repeat a preset every T minutes, K times or until a clock time.

A slot that comes while a stack still runs (or waits) is skipped and logged — an
overnight series keeps its rhythm instead of piling up.  :meth:`Scheduler.tick` does
the work for a given time, so tests drive it without waiting.  :meth:`Scheduler.create`
refuses a schedule that could never run (no such preset, an end in the past, an end
before its start) or whose numbers are out of range.  A slot's job and its count are one
store transaction; a schedule that fails is paused with the error shown, not retried.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rig.errors import InvalidRequest, RigError
from rig.events import EventBus
from rig.plan import PlanError
from rig.store import Job, Schedule, ScheduleSlot, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleSpec:
    """Repeat ``preset`` every ``every_min`` minutes, ``times`` times and/or until
    ``until`` (epoch seconds), from ``start_at`` (default: now)."""

    preset: str
    every_min: float
    times: int | None = None
    until: float | None = None
    start_at: float | None = None


# What a schedule may be.  The period's floor keeps a slot longer than the scheduler's
# own wake-up (0.2 s; back-to-back series use it, a slot that comes while a stack runs is
# skipped); the rest keep every count and time a plain number SQLite and a phone's clock
# can hold.
MIN_EVERY_MIN = 0.005
MAX_EVERY_MIN = 7 * 24 * 60.0
MAX_TIMES = 100_000
MAX_START_LATE_S = 24 * 3600.0  # a start this far in the past is a mistake, not a clock skew
MAX_AHEAD_S = 100 * 365 * 24 * 3600.0
MAX_DOWN_S = 10 * 365 * 24 * 3600.0  # a stored slot this late is corrupt, not a long outage

_ERROR_PAUSE_S = 60.0  # after the schedule check itself failed (the database, say)


def unbounded_problem(times: int | None, until: float | None) -> str | None:
    """A schedule must end: after ``times`` runs, at ``until``, or both."""
    if times is None and until is None:
        return "give times (how many stacks) or until (when to stop), or both"
    return None


def _finite(value: float | None) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value))


def schedule_problems(
    *,
    every_min: float,
    times: int | None,
    until: float | None,
    start_at: float,
    now: float,
    max_late_s: float = MAX_START_LATE_S,
) -> list[str]:
    """What is wrong with these numbers (nothing: an empty list), each saying what to
    give instead.  Checked when a schedule is made and again before each of its slots,
    so a record an older version stored cannot run away either."""
    if not all(_finite(v) for v in (every_min, until, start_at)):
        return ["every_min, until and start_at must be finite numbers"]
    problems = []
    unbounded = unbounded_problem(times, until)
    if unbounded:
        problems.append(unbounded)
    if not MIN_EVERY_MIN <= every_min <= MAX_EVERY_MIN:
        problems.append(
            f"every_min must be between {MIN_EVERY_MIN:g} and {MAX_EVERY_MIN:g} minutes "
            f"(got {every_min:g})"
        )
    if times is not None and not 1 <= times <= MAX_TIMES:
        problems.append(f"times must be between 1 and {MAX_TIMES} (got {times})")
    if not now - max_late_s <= start_at <= now + MAX_AHEAD_S:
        problems.append("start_at must be a time between a day ago and 100 years from now")
    if until is not None:
        if until > now + MAX_AHEAD_S:
            problems.append("until must be within 100 years from now")
        elif until < start_at:
            problems.append("until is before start_at: the schedule would never run")
    return problems


class Scheduler:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        submit_scheduled: Callable[[str, ScheduleSlot], Job],
        busy: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self._submit_scheduled = submit_scheduled
        self._busy = busy
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def create(self, spec: ScheduleSpec) -> Schedule:
        """A new schedule (NotFound for an unknown preset, InvalidRequest if it could
        never run or its numbers are out of range)."""
        self.store.preset(spec.preset)  # NotFound now rather than a skipped slot later
        now = self._clock()
        if spec.until is not None and _finite(spec.until) and spec.until <= now:
            raise InvalidRequest("until is in the past")
        start_at = now if spec.start_at is None else spec.start_at
        problems = schedule_problems(
            every_min=spec.every_min,
            times=spec.times,
            until=spec.until,
            start_at=start_at,
            now=now,
        )
        if problems:
            raise InvalidRequest("; ".join(problems))
        return self.store.create_schedule(
            preset=spec.preset,
            every_min=spec.every_min,
            times=spec.times,
            until=spec.until,
            start_at=start_at,
        )

    def _loop(self) -> None:
        pause = 0.0
        while not self._stop.wait(pause):
            try:
                self.tick(self._clock())
                pause = self._seconds_to_next()
            except Exception:  # the store itself failed: try again later, not in a loop
                log.exception("schedule check failed; next try in %g s", _ERROR_PAUSE_S)
                pause = _ERROR_PAUSE_S

    def _seconds_to_next(self) -> float:
        upcoming = [s.next_at for s in self.store.schedules() if s.enabled]
        if not upcoming:
            return 30.0
        return min(30.0, max(0.2, min(upcoming) - self._clock()))

    def tick(self, now: float) -> None:
        """Run or skip every slot that is due at ``now``.  A schedule that fails is
        paused with its error (shown by the API and the page), never retried in a loop."""
        for schedule in self.store.schedules():
            if schedule.enabled and schedule.next_at <= now:
                try:
                    self._due(schedule, now)
                except Exception as exc:
                    log.exception("schedule %s failed; paused", schedule.id)
                    self._pause(schedule, f"paused after an error: {exc}")

    def _pause(self, schedule: Schedule, reason: str) -> None:
        self.store.update_schedule(schedule.id, enabled=False, error=reason)
        self.bus.publish("schedule", id=schedule.id, action="paused", reason=reason)

    def _due(self, schedule: Schedule, now: float) -> None:
        problems = schedule_problems(
            every_min=schedule.every_min,
            times=schedule.times,
            until=schedule.until,
            start_at=schedule.next_at,
            now=now,
            max_late_s=MAX_DOWN_S,  # slots missed while the daemon was down are skipped below
        )
        if problems:
            self._pause(schedule, "; ".join(problems))
            return
        period = schedule.every_min * 60.0
        # Slots missed entirely (the daemon was down) are skipped, not made up for.
        missed = max(0, math.floor((now - schedule.next_at) / period))
        next_at = schedule.next_at + (missed + 1) * period
        skipped = schedule.skipped + missed
        done_after_run = (schedule.times is not None and schedule.runs + 1 >= schedule.times) or (
            schedule.until is not None and next_at > schedule.until
        )
        if self._busy():
            self._skip(schedule, next_at, skipped, "a stack is still running")
            return
        slot = ScheduleSlot(schedule.id, schedule.next_at, next_at, skipped, done_after_run)
        try:
            job = self._submit_scheduled(schedule.preset, slot)
        except (RigError, PlanError) as exc:
            self._skip(schedule, next_at, skipped, str(exc))
            return
        self.bus.publish("schedule", id=schedule.id, action="started", job_id=job.id)
        if done_after_run:
            self._finished(self.store.schedule(schedule.id))

    def _skip(self, schedule: Schedule, next_at: float, skipped: int, reason: str) -> None:
        """Count the slot as skipped (no job) — unless another tick took it meanwhile."""
        done = schedule.until is not None and next_at > schedule.until
        updated = self.store.skip_slot(
            ScheduleSlot(schedule.id, schedule.next_at, next_at, skipped + 1, done)
        )
        if updated is None:
            return
        log.info("schedule %s: slot skipped: %s", schedule.id, reason)
        self.bus.publish("schedule", id=schedule.id, action="skipped", reason=reason)
        if done:
            self._finished(updated)

    def _finished(self, schedule: Schedule) -> None:
        self.bus.publish(
            "schedule",
            id=schedule.id,
            action="finished",
            runs=schedule.runs,
            skipped=schedule.skipped,
        )
