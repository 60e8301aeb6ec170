"""Schedules given hostile numbers: refused when made, paused (not looping) when a stored
one is bad, and one slot → at most one job, counted in the job's own transaction."""

from __future__ import annotations

import time

import pytest
from api_support import api_client
from rig_support import Watcher, running_rig

from rig.errors import InvalidRequest
from rig.plan import StackPlan
from rig.service import ScheduleSpec

QUICK = StackPlan(start_mm=10, end_mm=11, count=3, settle_s=0).model_dump(mode="json")


@pytest.fixture
def rig(tmp_path):
    with running_rig(tmp_path) as r:
        r.scheduler.stop()  # the tests play the clock themselves
        r.store.save_preset("quick", QUICK)
        yield r


@pytest.fixture
def client(rig):
    with api_client(rig) as c:
        yield c


@pytest.mark.parametrize(
    ("numbers", "fragment"),
    [
        ({"every_min": 1e-300, "times": 1}, "every_min must be between"),
        ({"every_min": 10, "times": 1, "start_at": -1e21}, "start_at must be"),
        ({"every_min": 10, "times": 1, "start_at": 1e300}, "start_at must be"),
        ({"every_min": 10, "until": 1e300}, "until must be within"),
        ({"every_min": 10, "times": 0}, "times must be between"),
        ({"every_min": float("inf"), "times": 1}, "finite"),
    ],
)
def test_the_rig_refuses_a_schedule_with_numbers_out_of_range(rig, numbers, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        rig.create_schedule(ScheduleSpec(preset="quick", **numbers))
    assert rig.schedules() == []


def test_a_schedule_that_starts_after_its_end_is_refused(rig, client):
    now = time.time()
    body = {"preset": "quick", "every_min": 10, "start_at": now + 7200, "until": now + 3600}
    r = client.post("/api/schedules", json=body)
    assert r.status_code == 400 and "until is before start_at" in r.json()["detail"]
    r = client.post("/api/schedules", json={"preset": "quick", "every_min": 1e-300, "times": 1})
    assert r.status_code == 422 and "every_min" in r.json()["detail"]
    assert client.get("/api/schedules").json() == []


def test_a_bad_stored_schedule_is_paused_with_its_error_not_run_in_a_loop(rig, client):
    """The issue's runaway: a schedule an older version stored with a period of 1e-300
    minutes submitted a job every 0.2 s and failed its own update each time."""
    watcher = Watcher(rig)
    bad = rig.store.create_schedule(
        preset="quick", every_min=1e-300, times=1, until=None, start_at=1000.0
    )
    for t in (2000.0, 2000.2, 2000.4, 3000.0):
        rig.scheduler.tick(t)
    assert rig.store.jobs() == []
    shown = client.get(f"/api/schedules/{bad.id}").json()
    assert shown["enabled"] is False and "every_min must be between" in shown["error"]
    paused = [e for e in watcher.events if e.type == "schedule" and e.data["action"] == "paused"]
    assert len(paused) == 1
    # Enabling it again clears the error; the rig pauses it again at its next slot.
    assert client.patch(f"/api/schedules/{bad.id}", json={"enabled": True}).json()["error"] is None


def test_a_schedule_whose_run_cannot_be_counted_starts_no_job(rig):
    """Submit and count are one transaction: a slot taken from a stale view of the
    schedule (already run, or deleted meanwhile) creates no job."""
    schedule = rig.store.create_schedule(
        preset="quick", every_min=10, times=1, until=None, start_at=1000.0
    )
    stale = rig.store.schedules()
    rig.scheduler.tick(1000.0)
    assert len(rig.store.jobs()) == 1
    rig.store.schedules = lambda: stale  # type: ignore[method-assign]  # a second, stale tick
    rig.scheduler.tick(1000.0)
    assert len(rig.store.jobs()) == 1  # times: 1 means one job
    del rig.store.schedules
    s = rig.store.schedule(schedule.id)
    assert s.runs == 1 and not s.enabled and s.error is None


def test_an_unexpected_failure_pauses_the_schedule_once(rig, client):
    rig.store.create_schedule(preset="quick", every_min=10, times=5, until=None, start_at=1000.0)

    def broken(*_: object, **__: object) -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    rig.scheduler._submit_scheduled = broken
    for t in (1000.0, 1000.2, 1000.4):
        rig.scheduler.tick(t)
    [shown] = client.get("/api/schedules").json()
    assert shown["enabled"] is False and "too large" in shown["error"]
    assert shown["runs"] == 0 and rig.store.jobs() == []


def test_the_scheduler_loop_backs_off_when_the_store_fails(rig, monkeypatch):
    """A failing schedule check is tried again a minute later, not every 0.2 s."""
    waits: list[float] = []
    scheduler = rig.scheduler
    scheduler._stop.clear()

    def failing_tick(now: float) -> None:
        raise OverflowError("boom")

    def wait(timeout: float) -> bool:
        waits.append(timeout)
        return len(waits) >= 3

    monkeypatch.setattr(scheduler, "tick", failing_tick)
    monkeypatch.setattr(scheduler._stop, "wait", wait)
    scheduler._loop()
    assert waits[1:] == [60.0, 60.0]


def test_an_older_database_gains_the_error_column(tmp_path):
    import sqlite3

    from rig.store import Store

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE schedules (id TEXT PRIMARY KEY, preset TEXT NOT NULL, every_min REAL "
            "NOT NULL, times INTEGER, until REAL, next_at REAL NOT NULL, runs INTEGER NOT NULL "
            "DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1, "
            "created REAL NOT NULL, last_job TEXT)"
        )
        db.execute("INSERT INTO schedules VALUES ('a', 'p', 10, 2, NULL, 5, 0, 0, 1, 1, NULL)")
    store = Store(path)
    try:
        assert store.schedule("a").error is None
    finally:
        store.close()
