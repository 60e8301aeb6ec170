#!/usr/bin/env python3
"""Kill the daemon at random moments and check that nothing is lost.

Starts ``macrorig serve --sim`` in a subprocess, keeps stacks going (new ones, resumes,
restacks), and SIGKILLs it — at random times and at chosen moments: right after a frame
(the rail is moving or the camera exposing), a few milliseconds after a frame (the frame
being written), during stacking, during a database write (a job being created).  After
every restart it checks:

* every frame file is complete (a JPEG ends with its end-of-image marker and decodes)
  and listed in its job's manifest, and every manifest entry has its file;
* every job the script created still exists, the database passes ``integrity_check``;
* the driver is disabled and the light off;
* interrupted jobs are resumable or stackable — at the end every one is brought to done.

    python scripts/chaos.py                  # 50 kills
    python scripts/chaos.py --kills 5        # the quick version the test suite runs

Prints the figures; exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import DaemonError, DaemonProcess, config_file, free_port

from rig.data_layout import DataLayout


class Violation(Exception):
    """A check failed."""


MOMENTS = ("random", "after-frame", "while-writing", "stacking", "creating-job")


def complete_jpeg(path: Path) -> bool:
    data = path.read_bytes()
    if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00").endswith(b"\xff\xd9")):
        return False
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None


def check(
    d: DaemonProcess, created: list[str], figures: Counter[str], *, restarted: bool = True
) -> None:
    """The invariants (the motor and light ones only just after a restart: later, the
    rail rightly stays powered for a moment after a stack)."""
    status = d.get("/api/status")
    if not restarted:
        pass
    elif status["job"] is None and not status["queue"]:
        if status["light"]["on"] or status["rail"]["enabled"]:
            raise Violation(
                f"after restart the light is {status['light']} and the rail {status['rail']}"
            )
        figures["restarts checked: motor disabled and light off"] += 1
    else:  # a job queued before the kill starts at once and rightly powers the rail
        figures["restarts straight into a queued job"] += 1
    layout = DataLayout(d.data)
    with sqlite3.connect(f"file:{layout.database}?mode=ro", uri=True) as db:
        verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise Violation(f"database integrity: {verdict}")
    jobs = {j["id"]: j for j in d.get("/api/jobs?limit=1000")}
    lost = [j for j in created if j not in jobs]
    if lost:
        raise Violation(f"job records lost: {lost}")
    for job_id, job in jobs.items():
        folder = layout.job(job["source_job"] if job["kind"] == "restack" else job_id)
        if job["kind"] == "restack":
            continue
        listed = {f["index"] for f in d.get(f"/api/jobs/{job_id}/frames")}
        manifest = folder / "manifest.jsonl"
        recorded = (
            {json.loads(line)["index"] for line in manifest.read_text().splitlines()}
            if manifest.exists()
            else set()
        )
        files = sorted((folder / "frames").glob("*")) if (folder / "frames").exists() else []
        on_disk = {int(p.stem.split("_")[1]) for p in files}
        if listed != recorded or on_disk != recorded:
            raise Violation(
                f"job {job_id}: manifest {sorted(recorded)}, files {sorted(on_disk)}, "
                f"API {sorted(listed)}"
            )
        for p in files:
            figures["frames checked"] += 1
            if not complete_jpeg(p):
                raise Violation(f"truncated or unreadable frame {p}")
        if job["frames_done"] != len(recorded):
            raise Violation(
                f"job {job_id}: frames_done {job['frames_done']} but {len(recorded)} frames kept"
            )


def start_work(
    d: DaemonProcess, rng: random.Random, created: list[str], figures: Counter[str]
) -> str | None:
    """Resume or restack an interrupted job, or start a new one; the id to watch."""
    jobs = d.get("/api/jobs?limit=1000")
    interrupted = [j for j in jobs if j["state"] == "interrupted"]
    if interrupted:
        job = rng.choice(interrupted)
        if job["kind"] == "restack" or rng.random() < 0.7 or job["frames_done"] < 2:
            r = d.post(f"/api/jobs/{job['id']}/resume")
            figures["resumes started"] += r.status_code == 200
            return job["id"] if r.status_code == 200 else None
        r = d.post(f"/api/jobs/{job['id']}/restack")
        if r.status_code == 201:
            figures["restacks started"] += 1
            created.append(r.json()["id"])
            return str(r.json()["id"])
        return None
    plan = {
        "start_mm": 10,
        "end_mm": 12,
        "count": rng.randint(6, 16),
        "settle_s": rng.choice([0, 0.05, 0.15]),
    }
    r = d.post("/api/jobs", {"plan": plan})
    if r.status_code != 201:
        raise Violation(f"could not start a stack: {r.status_code} {r.text}")
    created.append(r.json()["id"])
    return str(r.json()["id"])


def wait_for_moment(d: DaemonProcess, job_id: str, moment: str, rng: random.Random) -> str:
    """Return just when the chosen moment has come (or a random time passed)."""
    deadline = time.monotonic() + 20
    if moment == "random" or moment == "creating-job":
        time.sleep(rng.uniform(0.0, 2.5))
        return moment
    start = d.get(f"/api/jobs/{job_id}")["frames_done"]
    while time.monotonic() < deadline:
        job = d.get(f"/api/jobs/{job_id}")
        if moment == "stacking" and job["state"] == "stacking":
            return moment
        if moment in ("after-frame", "while-writing") and job["frames_done"] > start:
            if moment == "while-writing":
                time.sleep(rng.uniform(0.0, 0.02))
            return moment
        if job["state"] in ("done", "failed", "cancelled"):
            return "after the job ended"
        time.sleep(0.005)
    return "random"


def finish_everything(d: DaemonProcess, figures: Counter[str]) -> None:
    """Every interrupted job must be resumable (or stackable) to done."""
    for _ in range(200):
        jobs = d.get("/api/jobs?limit=1000")
        active = [j for j in jobs if j["state"] in ("queued", "running", "stacking")]
        interrupted = [j for j in jobs if j["state"] == "interrupted"]
        if not active and not interrupted:
            break
        if not active:
            job = interrupted[0]
            action = "resume"
            r = d.post(f"/api/jobs/{job['id']}/{action}")
            if r.status_code != 200:
                raise Violation(
                    f"interrupted job {job['id']} cannot {action}: {r.status_code} {r.text}"
                )
            figures[f"recovered by {action}"] += 1
        time.sleep(0.2)
    jobs = d.get("/api/jobs?limit=1000")
    bad = [(j["id"], j["state"], j["error"]) for j in jobs if j["state"] != "done"]
    if bad:
        raise Violation(f"jobs not brought to done: {bad}")
    for j in jobs:
        if "result.jpg" not in j["outputs"]:
            raise Violation(f"job {j['id']} is done without result.jpg")
    figures["jobs done at the end"] = len(jobs)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    figures: Counter[str] = Counter()
    created: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="macrorig-chaos-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = config_file(root, f"\n[server]\nport = {port}\n")
        data = root / "data"
        try:
            for _ in range(args.kills):
                d = DaemonProcess(config, data, port).start()
                check(d, created, figures)
                moment = rng.choice(MOMENTS)
                if moment == "creating-job":
                    # Kill while a job is being written to the database.
                    plan = {"start_mm": 10, "end_mm": 12, "count": 6, "settle_s": 0}
                    threading_post(d, plan)
                    time.sleep(rng.uniform(0.0, 0.03))
                    figures["kills: creating-job"] += 1
                    d.kill()
                    continue
                job_id = start_work(d, rng, created, figures)
                when = wait_for_moment(d, job_id, moment, rng) if job_id else "idle"
                figures[f"kills: {when}"] += 1
                d.kill()
            d = DaemonProcess(config, data, port).start()
            check(d, created, figures)
            # Jobs created in the instant of a kill may exist without the script knowing.
            finish_everything(d, figures)
            check(d, [], figures, restarted=False)
            code = d.stop()
            if code != 0:
                raise Violation(f"SIGTERM exit status {code}")
        except (Violation, DaemonError) as exc:
            print(f"VIOLATION: {exc}")
            report(figures, started, failed=True)
            return 1
    report(figures, started, failed=False)
    return 0


def threading_post(d: DaemonProcess, plan: dict[str, Any]) -> None:
    threading.Thread(target=lambda: _quiet_post(d, plan), daemon=True).start()


def _quiet_post(d: DaemonProcess, plan: dict[str, Any]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the daemon is killed under it: the point
        d.post("/api/jobs", {"plan": plan})


def report(figures: Counter[str], started: float, *, failed: bool) -> None:
    print(f"chaos: {'FAILED' if failed else 'passed'} in {time.monotonic() - started:.0f} s")
    for key in sorted(figures):
        print(f"  {key}: {figures[key]}")
    print(
        "  truncated frames: 0, frames missing from a manifest: 0, job records lost: 0"
        if not failed
        else ""
    )


if __name__ == "__main__":
    sys.exit(main())
