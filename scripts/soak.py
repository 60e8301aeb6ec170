#!/usr/bin/env python3
"""A night of stacks: many small scheduled stacks back to back, nothing may leak.

Starts ``macrorig serve --sim`` in a subprocess, saves a small preset and a schedule
that repeats it ``--stacks`` times with no pause, and deletes the files of all but the
newest ``--keep`` jobs as it goes (what a photographer clearing the gallery does).
It samples the daemon's resident memory, open file descriptors and threads once the
first ``--warmup`` stacks have run (caches filled, pools started) and again at the end,
and checks:

* RSS grew by less than 5 %, and no file descriptor or thread was leaked;
* every scheduled stack ended ``done`` with its result;
* disk usage equals what the jobs kept: every file under ``jobs/`` belongs to a kept
  job (its manifest's frames, the manifest, its outputs and preview), deleted jobs left
  nothing behind, and no stacking spill file is left in the daemon's temp dir.

    python scripts/soak.py                  # 500 stacks (about 10 minutes here)
    python scripts/soak.py --stacks 40      # the short version the test suite runs

Prints the figures; exit status 1 if a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import DaemonError, DaemonProcess, config_file, free_port

from rig.data_layout import DataLayout
from rig.job_files import CARD_FILE, PREVIEW_FILE


class Violation(Exception):
    """A check failed."""


PLAN = {"start_mm": 10, "end_mm": 10.3, "count": 3, "settle_s": 0, "return_to_start": False}
# A kept job's folder holds exactly these besides its frames.
JOB_FILES = {"manifest.jsonl", PREVIEW_FILE, CARD_FILE}


def sample(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {
        "rss_kb": int(fields["VmRSS"].split()[0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
    }


def daemon_pid(d: DaemonProcess) -> int:
    assert d.proc is not None
    return d.proc.pid


def wait_idle(d: DaemonProcess, timeout: float = 60) -> None:
    """Wait until no job is running or queued (the schedule's last stack finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = d.get("/api/status")
        if status["job"] is None and not status["queue"]:
            return
        time.sleep(0.1)
    raise Violation("the daemon did not become idle")


def run(d: DaemonProcess, args: argparse.Namespace, spill_dir: Path) -> dict[str, Any]:
    r = d.http.put("/api/presets/soak", json={"plan": PLAN})
    r.raise_for_status()
    # A period shorter than a stack: the schedule runs them back to back, skipping the
    # slots that come while one still runs (logged, counted).
    r = d.post("/api/schedules", {"preset": "soak", "every_min": 0.005, "times": args.stacks})
    if r.status_code != 201:
        raise Violation(f"could not create the schedule: {r.status_code} {r.text}")
    schedule_id = r.json()["id"]

    deleted: set[str] = set()
    first: dict[str, int] | None = None
    started = time.monotonic()
    while True:
        schedule = d.get(f"/api/schedules/{schedule_id}")
        prune(d, args.keep, deleted)
        if first is None and schedule["runs"] > args.warmup:
            wait_idle(d)  # sample between stacks, like the end sample
            first = sample(daemon_pid(d))
        if not schedule["enabled"]:
            break
        if time.monotonic() - started > args.stacks * 10:
            raise Violation(f"the schedule stalled at {schedule['runs']} runs")
        time.sleep(0.5)
    wait_idle(d)
    elapsed = time.monotonic() - started
    prune(d, args.keep, deleted)
    last = sample(daemon_pid(d))
    assert first is not None

    jobs = d.get("/api/jobs?limit=1000")
    if len(jobs) + len(deleted) != args.stacks:
        raise Violation(f"{len(jobs)} kept + {len(deleted)} deleted jobs for {args.stacks} stacks")
    bad = [(j["id"], j["state"], j["error"]) for j in jobs if j["state"] != "done"]
    if bad:
        raise Violation(f"stacks that did not end done: {bad[:5]}")
    kept_bytes = check_disk(d.data, jobs, deleted)
    leftovers = list(spill_dir.iterdir())
    if leftovers:
        raise Violation(f"stacking spill files left behind: {leftovers[:5]}")
    return {
        "schedule": d.get(f"/api/schedules/{schedule_id}"),
        "first": first,
        "last": last,
        "elapsed": elapsed,
        "kept_bytes": kept_bytes,
        "kept_jobs": len(jobs),
        "deleted_jobs": len(deleted),
    }


def prune(d: DaemonProcess, keep: int, deleted: set[str]) -> None:
    """Delete every finished stack but the newest ``keep`` (each must have ended done)."""
    jobs = d.get("/api/jobs?limit=1000")
    finished = [j for j in jobs if j["state"] in ("done", "failed", "cancelled")]
    for job in sorted(finished, key=lambda j: j["created"])[: -keep or None]:
        if job["id"] in deleted:
            continue
        if job["state"] != "done" or "result.jpg" not in job["outputs"]:
            raise Violation(f"stack {job['id']} ended {job['state']}: {job['error']}")
        r = d.http.delete(f"/api/jobs/{job['id']}/files")
        if r.status_code != 204:
            raise Violation(f"could not delete job files: {r.status_code} {r.text}")
        deleted.add(job["id"])


def check_disk(data: Path, jobs: list[dict[str, Any]], deleted: set[str]) -> int:
    """Every byte under jobs/ is accounted for by a kept job; returns the bytes kept."""
    layout = DataLayout(data)
    for job_id in deleted:
        if layout.job(job_id).exists():
            raise Violation(f"deleted job {job_id} left files behind")
    expected: set[Path] = set()
    for job in jobs:
        folder = layout.job(job["id"])
        manifest = folder / "manifest.jsonl"
        for line in manifest.read_text().splitlines():
            expected.add(folder / json.loads(line)["file"])
        expected.update(folder / name for name in job["outputs"])
        expected.update(folder / name for name in JOB_FILES)
    on_disk = {p for p in layout.jobs.rglob("*") if p.is_file()}
    stray = on_disk - expected
    missing = {p for p in expected - on_disk if p.name != "preview.jpg"}
    if stray or missing:
        raise Violation(f"stray files {sorted(stray)[:5]}, missing files {sorted(missing)[:5]}")
    return sum(p.stat().st_size for p in on_disk)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--stacks", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=50, help="stacks before the first sample")
    ap.add_argument("--keep", type=int, default=20, help="newest jobs whose files are kept")
    args = ap.parse_args()
    if not 0 < args.warmup < args.stacks:
        ap.error("--warmup must be between 0 and --stacks")
    with tempfile.TemporaryDirectory(prefix="macrorig-soak-") as tmp:
        root = Path(tmp)
        port = free_port()
        config = config_file(root, f"\n[server]\nport = {port}\n")
        spill_dir = root / "tmp"
        spill_dir.mkdir()
        d = DaemonProcess(config, root / "data", port, env={"TMPDIR": str(spill_dir)})
        try:
            figures = run(d.start(), args, spill_dir)
        except (Violation, DaemonError) as exc:
            print(f"soak: FAILED: {exc}")
            d.stop()
            return 1
        code = d.stop()
    return report(figures, args, code)


def report(figures: dict[str, Any], args: argparse.Namespace, exit_code: int) -> int:
    first, last, schedule = figures["first"], figures["last"], figures["schedule"]
    rss_growth = (last["rss_kb"] - first["rss_kb"]) / first["rss_kb"]
    problems = []
    if rss_growth >= 0.05:
        problems.append(f"RSS grew {rss_growth:.1%}")
    for key in ("fds", "threads"):
        if last[key] > first[key]:
            problems.append(f"{key} leaked: {first[key]} -> {last[key]}")
    if exit_code != 0:
        problems.append(f"SIGTERM exit status {exit_code}")
    print(f"soak: {'FAILED: ' + '; '.join(problems) if problems else 'passed'}")
    print(
        f"  stacks: {schedule['runs']} done in {figures['elapsed']:.0f} s "
        f"({figures['elapsed'] / schedule['runs']:.2f} s each), "
        f"schedule slots skipped while busy: {schedule['skipped']}"
    )
    print(
        f"  after {args.warmup} stacks: RSS {first['rss_kb'] / 1024:.1f} MB, "
        f"{first['fds']} fds, {first['threads']} threads"
    )
    print(
        f"  after {schedule['runs']} stacks: RSS {last['rss_kb'] / 1024:.1f} MB, "
        f"{last['fds']} fds, {last['threads']} threads"
    )
    print(f"  RSS growth: {rss_growth:+.1%}")
    print(
        f"  disk: {figures['kept_bytes'] / 1e6:.2f} MB under jobs/ = the {figures['kept_jobs']} "
        "kept jobs' frames, manifests and results; 0 stray files, 0 spill files"
    )
    print(f"  deleted as it went: {figures['deleted_jobs']} jobs, nothing left behind")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
