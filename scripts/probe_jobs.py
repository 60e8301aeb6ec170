#!/usr/bin/env python3
"""Hostile checks of the daemon's job side, against a real ``macrorig serve --sim``:

* ``damaged_database``: the database file damaged four ways (garbage header, truncated,
  a directory in its place, a corrupted page) — the daemon must start, say so in
  ``/api/status``, list the jobs again, keep the bad file aside and every frame;
* ``runaway_schedule``: the schedules from the issue (a period of 1e-300 minutes, a start
  at -1e21, a start after the end) must be refused, and no job may start.

Each check is a function taking a scratch folder and returning its figures (raising
:class:`Violation` when something does not hold), so another probe can call them.

    python scripts/probe_jobs.py
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import DaemonProcess, config_file, free_port

PLAN = {"start_mm": 10, "end_mm": 12, "count": 4, "settle_s": 0}


class Violation(Exception):
    """A check failed."""


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise Violation(what)


def _daemon(folder: Path) -> DaemonProcess:
    config = folder / "rig.toml"
    if not config.exists():
        config_file(folder)
    return DaemonProcess(config, folder / "data", free_port()).start()


def _finished(daemon: DaemonProcess, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = daemon.get(f"/api/jobs/{job_id}")
        if job["final"]:
            return job
        time.sleep(0.1)
    raise Violation(f"job {job_id} did not finish in {timeout:g} s")


def _garbage_header(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:100] = os.urandom(100)
    db.write_bytes(bytes(data))


def _truncated(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:1000])


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()


def _corrupted_page(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]
    data = bytearray(db.read_bytes())
    data[(root - 1) * size : root * size] = b"\xa5" * size
    db.write_bytes(bytes(data))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "garbage header": _garbage_header,
    "truncated": _truncated,
    "a directory": _directory,
    "corrupted page": _corrupted_page,
}


def damaged_database(folder: Path) -> dict[str, Any]:
    """For each kind of damage: stacks, stop, damage, start again, check."""
    figures: dict[str, Any] = {}
    for name, damage in DAMAGES.items():
        scratch = folder / name.replace(" ", "-")
        scratch.mkdir(parents=True)
        daemon = _daemon(scratch)
        ids = [daemon.post("/api/jobs", {"plan": PLAN}).json()["id"] for _ in range(2)]
        for job_id in ids:
            _check(_finished(daemon, job_id)["state"] == "done", f"{name}: a stack failed")
        daemon.stop()
        data = scratch / "data"
        frames = {p: p.read_bytes() for p in data.glob("jobs/*/frames/*")}
        damage(data / "macrorig.db")
        started = time.monotonic()
        daemon = _daemon(scratch)
        took = time.monotonic() - started
        try:
            status = daemon.get("/api/status")
            _check(bool(status.get("database_problem")), f"{name}: status says nothing")
            jobs = daemon.http.get("/api/jobs")
            _check(jobs.status_code == 200, f"{name}: GET /api/jobs {jobs.status_code}")
            listed = {j["id"]: j["state"] for j in jobs.json()}
            _check(listed == dict.fromkeys(ids, "done"), f"{name}: jobs {listed}")
            again = daemon.post(f"/api/jobs/{ids[0]}/restack").json()["id"]
            _check(_finished(daemon, again)["state"] == "done", f"{name}: restack failed")
        finally:
            daemon.stop()
        kept = [p.name for p in data.glob("macrorig.db.damaged-*") if "-wal" not in p.name]
        _check(len(kept) == 1, f"{name}: damaged file kept as {kept}")
        _check(all(p.read_bytes() == b for p, b in frames.items()), f"{name}: a frame was changed")
        figures[name] = {"start_s": round(took, 2), "jobs_rebuilt": len(listed)}
    return figures


RUNAWAY = (
    {"preset": "quick", "every_min": 1e-300, "times": 1},
    {"preset": "quick", "every_min": 1, "times": 1, "start_at": -1e21},
    {"preset": "quick", "every_min": 1, "start_at": 4.0e9, "until": 3.9e9},
)


def runaway_schedule(folder: Path, watch_s: float = 5.0) -> dict[str, Any]:
    """The issue's schedules are refused; for ``watch_s`` seconds no job starts."""
    daemon = _daemon(folder)
    try:
        daemon.http.put("/api/presets/quick", json={"plan": PLAN}).raise_for_status()
        answers = [daemon.post("/api/schedules", body).status_code for body in RUNAWAY]
        _check(all(400 <= a < 500 for a in answers), f"schedules accepted: {answers}")
        time.sleep(watch_s)  # a probe, not a test: it watches a real daemon for a while
        jobs = daemon.get("/api/jobs")
        _check(jobs == [], f"{len(jobs)} job(s) started")
        return {"answers": answers, "jobs_after_s": {watch_s: len(jobs)}}
    finally:
        daemon.stop()


CHECKS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "damaged database": damaged_database,
    "runaway schedule": runaway_schedule,
}


def main() -> int:
    failed = 0
    for name, check in CHECKS.items():
        with tempfile.TemporaryDirectory(prefix="probe-jobs-") as scratch:
            try:
                print(f"{name}: ok {check(Path(scratch))}")
            except Violation as exc:
                failed += 1
                print(f"{name}: FAILED: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
