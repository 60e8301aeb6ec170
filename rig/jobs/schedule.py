"""Schedules: repeat a preset every T minutes, K times or until a clock time.

A slot that comes while a stack still runs (or waits) is skipped and logged — an
overnight series keeps its rhythm instead of piling up.  :meth:`Scheduler.tick` does
the work for a given time, so tests drive it without waiting.  :meth:`Scheduler.create`
refuses a schedule that could never run (no such preset, an end in the past).
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
from rig.store import Job, Schedule, Store

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


def unbounded_problem(times: int | None, until: float | None) -> str | None:
    """A schedule must end: after ``times`` runs, at ``until``, or both."""
    if times is None and until is None:
        return "give times (how many stacks) or until (when to stop), or both"
    return None


class Scheduler:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        submit_preset: Callable[..., tuple[Job, bool]],
        busy: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self._submit_preset = submit_preset
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
        never run)."""
        self.store.preset(spec.preset)  # NotFound now rather than a skipped slot later
        unbounded = unbounded_problem(spec.times, spec.until)
        if unbounded:
            raise InvalidRequest(unbounded)
        now = self._clock()
        if spec.until is not None and spec.until <= now:
            raise InvalidRequest("until is in the past")
        return self.store.create_schedule(
            preset=spec.preset,
            every_min=spec.every_min,
            times=spec.times,
            until=spec.until,
            start_at=spec.start_at or now,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds_to_next()):
            try:
                self.tick(self._clock())
            except Exception:  # one bad schedule must not stop the others
                log.exception("schedule check failed")

    def _seconds_to_next(self) -> float:
        upcoming = [s.next_at for s in self.store.schedules() if s.enabled]
        if not upcoming:
            return 30.0
        return min(30.0, max(0.2, min(upcoming) - self._clock()))

    def tick(self, now: float) -> None:
        """Run or skip every slot that is due at ``now``."""
        for schedule in self.store.schedules():
            if schedule.enabled and schedule.next_at <= now:
                self._due(schedule, now)

    def _due(self, schedule: Schedule, now: float) -> None:
        period = schedule.every_min * 60.0
        # Slots missed entirely (the daemon was down) are skipped, not made up for.
        missed = max(0, math.floor((now - schedule.next_at) / period))
        next_at = schedule.next_at + (missed + 1) * period
        runs, skipped, last_job = schedule.runs, schedule.skipped + missed, schedule.last_job
        if self._busy():
            skipped += 1
            log.info("schedule %s: slot skipped, the previous stack still runs", schedule.id)
            self.bus.publish(
                "schedule", id=schedule.id, action="skipped", reason="a stack is still running"
            )
        else:
            try:
                job, _ = self._submit_preset(schedule.preset, schedule_id=schedule.id)
                runs += 1
                last_job = job.id
                self.bus.publish("schedule", id=schedule.id, action="started", job_id=job.id)
            except (RigError, PlanError) as exc:
                skipped += 1
                log.warning("schedule %s: slot skipped: %s", schedule.id, exc)
                self.bus.publish("schedule", id=schedule.id, action="skipped", reason=str(exc))
        done = (schedule.times is not None and runs >= schedule.times) or (
            schedule.until is not None and next_at > schedule.until
        )
        self.store.update_schedule(
            schedule.id,
            next_at=next_at,
            runs=runs,
            skipped=skipped,
            last_job=last_job,
            enabled=not done,
        )
        if done:
            self.bus.publish(
                "schedule", id=schedule.id, action="finished", runs=runs, skipped=skipped
            )
