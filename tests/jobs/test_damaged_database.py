"""A damaged ``macrorig.db`` — garbage header, truncated, a directory in its place, a
corrupted page: the rig starts anyway and says so, the bad file is kept aside, the job
list is rebuilt from the job folders, and no frame is deleted."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from api_support import api_client
from rig_support import Watcher, running_rig

from rig.jobs.schedule import ScheduleSpec
from rig.plan import StackPlan
from rig.store import Store
from rig.store_recovery import RESTORED_SCHEDULE


def _garbage_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = os.urandom(100)
    db.write_bytes(bytes(data))


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3 + 7])


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()
    (db / "something").write_text("not a database")


def _corrupted_page(db: Path) -> None:
    """The header stays valid; the pages of the jobs table are overwritten."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = b"\xa5" * page_size
    db.write_bytes(bytes(data))


def _frames(data: Path) -> dict[str, bytes]:
    return {str(p.relative_to(data)): p.read_bytes() for p in data.glob("jobs/*/frames/*")}


@pytest.fixture
def used_rig(tmp_path):
    """A data folder with two finished stacks, a cancelled one and a preset."""
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        done = []
        for _ in range(2):
            job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=4, settle_s=0))
            assert watcher.job_state(job.id, "done")["state"] == "done"
            done.append(job.id)
        rig.store.save_preset("bee", StackPlan(start_mm=10, end_mm=11, count=3).model_dump())
        # Once a night, not before tomorrow: it starts nothing during the test.
        rig.create_schedule(
            ScheduleSpec("bee", every_min=1440, times=3, start_at=time.time() + 86400)
        )
        data = rig.data_dir
    return tmp_path, data, done


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_garbage_header, _truncated, _directory, _corrupted_page])
def test_a_damaged_database_is_set_aside_and_the_jobs_rebuilt(used_rig, damage):
    tmp_path, data, done = used_rig
    frames = _frames(data)
    assert len(frames) == 8
    damage(data / "macrorig.db")
    with running_rig(tmp_path) as rig:
        assert rig.database_problem and "job database was damaged" in rig.database_problem
        kept = [
            p
            for p in data.iterdir()
            if p.name.startswith("macrorig.db.damaged-") and not p.name.endswith(("-wal", "-shm"))
        ]
        assert len(kept) == 1 and kept[0].name in rig.database_problem
        with api_client(rig) as client:
            status = client.get("/api/status").json()
            assert status["database_problem"] == rig.database_problem
            jobs = client.get("/api/jobs")
            assert jobs.status_code == 200
            listed = {j["id"]: j for j in jobs.json()}
            assert set(listed) == set(done)
            for job_id in done:
                assert listed[job_id]["state"] == "done"
                assert "result.jpg" in listed[job_id]["urls"]
                assert listed[job_id]["frames_done"] == 4
                assert client.get(f"/api/jobs/{job_id}/result.jpg").status_code == 200
            # A rebuilt job can be stacked again, and new jobs run.
            watcher = Watcher(rig)
            again = client.post(f"/api/jobs/{done[0]}/restack").json()
            assert watcher.job_state(again["id"], "done", "failed")["state"] == "done"
    assert _frames(data) == frames  # every frame as it was


@pytest.mark.slow
def test_presets_and_schedules_the_damaged_file_still_holds_come_back_paused(used_rig):
    """Only the jobs table's pages are damaged: the preset and the schedule are read from
    the old file; the schedule waits, paused, until someone switches it back on."""
    tmp_path, data, _ = used_rig
    _corrupted_page(data / "macrorig.db")
    with running_rig(tmp_path) as rig:
        assert "1 preset(s) and 1 schedule(s) could be read" in (rig.database_problem or "")
        assert rig.store.preset("bee").plan["count"] == 3
        (schedule,) = rig.store.schedules()
        assert schedule.preset == "bee" and not schedule.enabled
        assert schedule.error == RESTORED_SCHEDULE
        with api_client(rig) as client:
            r = client.patch(f"/api/schedules/{schedule.id}", json={"enabled": True})
            assert r.status_code == 200 and r.json()["enabled"] is True
            assert r.json()["error"] is None
            r = client.post("/api/jobs", json={"preset": "bee"})
            assert r.status_code in (200, 201, 202), r.text


@pytest.mark.slow
def test_a_file_that_cannot_be_opened_gives_back_no_preset_and_says_so(used_rig):
    tmp_path, data, _ = used_rig
    _garbage_header(data / "macrorig.db")
    with running_rig(tmp_path) as rig:
        assert "0 preset(s) and 0 schedule(s) could be read" in (rig.database_problem or "")
        assert rig.store.presets() == [] and rig.store.schedules() == []


@pytest.mark.slow
def test_a_job_folder_without_its_card_is_rebuilt_from_its_manifest(used_rig):
    tmp_path, data, done = used_rig
    (data / "jobs" / done[1] / "job.json").unlink()
    for result in (data / "jobs" / done[1]).glob("result.*"):
        result.unlink()
    _garbage_header(data / "macrorig.db")
    with running_rig(tmp_path) as rig:
        job = rig.job(done[1])
        assert job.state == "interrupted" and job.frames_done == 4
        assert job.plan["count"] == 4 and job.plan["start_mm"] == pytest.approx(10)
        watcher = Watcher(rig)
        rig.resume(done[1])  # every frame is there: it only stacks
        assert watcher.job_state(done[1], "done", "failed")["state"] == "done"


@pytest.mark.slow
def test_a_page_damaged_while_running_is_a_503_not_a_500(used_rig):
    tmp_path, data, _ = used_rig
    with running_rig(tmp_path) as rig:
        rig.store.close()
        _corrupted_page(data / "macrorig.db")
        rig.store = Store(data / "macrorig.db")  # what the running daemon now reads
        with api_client(rig) as client:
            r = client.get("/api/jobs")
            assert r.status_code == 503
            assert "restart the rig" in r.json()["detail"]


@pytest.mark.slow
def test_no_fresh_database_possible_runs_in_memory(used_rig, monkeypatch):
    """The data folder read-only (or full): the rig still starts, in memory, and says so."""
    tmp_path, data, done = used_rig
    _garbage_header(data / "macrorig.db")
    real = Store.__init__
    calls = []

    def refuse_the_file(self, path):  # type: ignore[no-untyped-def]
        calls.append(path)
        if str(path) != ":memory:" and len(calls) > 1:
            raise sqlite3.OperationalError("unable to open database file")
        real(self, path)

    monkeypatch.setattr(Store, "__init__", refuse_the_file)
    with running_rig(tmp_path) as rig:
        assert "only until a restart" in (rig.database_problem or "")
        assert {j.id for j in rig.job_list()} == set(done)
