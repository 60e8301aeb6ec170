"""The health check in the rig: a live stack on the simulated bench with a fault from
``[sim] faults`` — the finding is announced while the stack runs (a ``health`` event),
lands in report.json, and the job carries the verdict; a clean stack is ``ok``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rig_support import Watcher, fast_config

from rig.config import Config
from rig.job_files import JobFiles
from rig.plan import StackPlan
from rig.service import Rig
from rig.store import Store

PLAN = StackPlan(start_mm=9.8, end_mm=12.2, count=15, settle_s=0)


def sim_rig(tmp_path: Path, faults: list[str]) -> Rig:
    config = fast_config(tmp_path)
    sim = config.sim.model_copy(update={"resolution": (640, 480), "faults": faults})
    return Rig(config.model_copy(update={"sim": sim}), simulate=True)


def run(rig: Rig) -> tuple[dict, dict, Watcher]:
    watcher = Watcher(rig)
    job, _ = rig.submit(PLAN)
    done = watcher.job_state(job.id, "done", "failed", timeout=180)
    assert done["state"] == "done", done["error"]
    report = json.loads(JobFiles(rig.data_dir, job.id).path("report.json").read_text())
    return done, report, watcher


@pytest.mark.slow
def test_a_shaken_frame_is_announced_live_reported_and_summarised(tmp_path):
    rig = sim_rig(tmp_path, ["shake@9"])
    rig.open()
    try:
        done, report, watcher = run(rig)
    finally:
        rig.close()
    assert done["health"] == {"status": "warnings", "problems": 1}
    [finding] = [f for f in report["health"]["findings"] if f["severity"] != "info"]
    assert finding["kind"] == "vibration" and abs(finding["frames"][0] - 9) <= 1
    assert "raise settle from 0 s" in finding["advice"]  # the plan's settle time
    live = [e for e in watcher.events if e.type == "health"]
    assert [e.data["finding"]["kind"] for e in live] == ["vibration"]
    assert live[0].data["job_id"] == done["id"]
    # the live one came before the job was done
    kinds = [e.type for e in watcher.events]
    assert kinds.index("health") < max(
        i for i, e in enumerate(watcher.events) if e.type == "job" and e.data["job"]["final"]
    )


@pytest.mark.slow
def test_a_clean_live_stack_is_ok(tmp_path):
    rig = sim_rig(tmp_path, [])
    rig.open()
    try:
        done, report, watcher = run(rig)
    finally:
        rig.close()
    assert done["health"] == {"status": "ok", "problems": 0}, report["health"]["findings"]
    assert not [e for e in watcher.events if e.type == "health"]
    assert len(report["health"]["frames"]) == PLAN.frame_count


def test_sim_faults_in_the_config_are_checked(tmp_path):
    with pytest.raises(ValueError, match="wobble"):
        Config.model_validate({"sim": {"faults": ["wobble@3"]}})


def test_a_database_from_before_the_health_column_gains_it(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the jobs table as the first release made it
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,"
            " state TEXT NOT NULL, plan TEXT NOT NULL, created REAL NOT NULL, started REAL,"
            " finished REAL, frames_planned INTEGER NOT NULL, frames_done INTEGER NOT NULL"
            " DEFAULT 0, error TEXT, outputs TEXT NOT NULL DEFAULT '[]', idempotency_key TEXT"
            " UNIQUE, callback_url TEXT, schedule_id TEXT, source_job TEXT)"
        )
        db.execute(
            "INSERT INTO jobs (id, kind, name, state, plan, created, frames_planned)"
            " VALUES ('a', 'stack', '', 'done', '{}', 0, 3)"
        )
    store = Store(path)
    try:
        assert store.job("a").health is None
    finally:
        store.close()


@pytest.mark.slow
def test_the_api_serves_the_health_on_the_job_and_in_report_json(tmp_path):
    from fastapi.testclient import TestClient

    from web.app import create_app
    from web.auth import Auth

    rig = sim_rig(tmp_path, ["flicker@6"])
    rig.open()
    try:
        watcher = Watcher(rig)
        with TestClient(
            create_app(rig, Auth(token="t" * 20)), headers={"Authorization": "Bearer " + "t" * 20}
        ) as client:
            job = client.post("/api/jobs", json={"plan": PLAN.model_dump()}).json()
            watcher.job_state(job["id"], "done", "failed", timeout=180)
            got = client.get(f"/api/jobs/{job['id']}").json()
            assert got["health"] == {"status": "warnings", "problems": 1}
            listed = client.get("/api/jobs").json()
            assert listed[0]["health"] == got["health"]
            report = client.get(f"/api/jobs/{job['id']}/report.json").json()
            [light] = report["health"]["findings"]
            assert light["kind"] == "light" and abs(light["frames"][0] - 6) <= 1
    finally:
        rig.close()
