"""Frames listed in a job's manifest but deleted or damaged on disk: a restack or a
resume reports and skips them (report.json), and the job still ends done."""

from __future__ import annotations

import json

import pytest
from rig_support import Watcher

from rig.job_files import JobFiles
from rig.plan import StackPlan


def _done_job(rig, watcher, count=7):
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=count, settle_s=0))
    assert watcher.job_state(job.id, "done", "failed")["state"] == "done"
    return job, JobFiles(rig.data_dir, job.id)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.parametrize(
    "damage", [lambda p: p.unlink(), lambda p: p.write_bytes(b"not a jpeg"), _truncate]
)
@pytest.mark.slow
def test_a_restack_skips_a_damaged_middle_frame_and_says_so(rig, damage):
    watcher = Watcher(rig)
    job, files = _done_job(rig, watcher)
    middle = files.dir / files.entries()[3].file  # the reference of 7
    damage(middle)
    again = rig.restack(job.id)
    ended = watcher.job_state(again.id, "done", "failed")
    assert ended["state"] == "done", ended["error"]
    report = json.loads(JobFiles(rig.data_dir, again.id).path("report.json").read_text())
    assert report["frames"][3]["status"] == "skipped" and report["frames"][3]["reason"]
    assert report["reference"] != 3
    assert sum(f["status"] == "fused" for f in report["frames"]) == 6


@pytest.mark.slow
def test_a_resume_skips_an_unreadable_frame_it_already_has(rig):
    """Killed while stacking with every frame saved; one of them was damaged since."""
    import sqlite3

    watcher = Watcher(rig)
    job, files = _done_job(rig, watcher, count=5)
    (files.dir / files.entries()[2].file).write_bytes(b"\xff\xd8 broken")
    with sqlite3.connect(rig.layout.database) as db:
        db.execute("UPDATE jobs SET state = 'stacking', outputs = '[]' WHERE id = ?", (job.id,))
    rig.store.interrupt_leftovers()
    mark = watcher.mark()
    rig.resume(job.id)
    ended = watcher.job_state(job.id, "done", "failed", after=mark)
    assert ended["state"] == "done", ended["error"]
    report = json.loads(files.path("report.json").read_text())
    assert [f["status"] for f in report["frames"]].count("skipped") == 1
    assert "decoded" in report["frames"][2]["reason"]
