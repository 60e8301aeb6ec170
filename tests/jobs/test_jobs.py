"""The job engine end to end on the simulated bench: capture, live stacking, cancel,
restack, busy refusal, disk preflight, schedules, shutdown."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import namedtuple

import cv2
import numpy as np
import pytest
from rig_support import Watcher, fast_config, psnr

from rig import plan as plan_module
from rig.job_files import JobFiles
from rig.plan import PlanError, StackPlan
from rig.service import Rig, RigBusy
from stacker import Stream, geometry


def died_while_stacking(rig, job_id):
    """The record a daemon killed while fusing leaves behind (no outputs yet), then
    what the next start-up makes of it (interrupted)."""
    with sqlite3.connect(rig.layout.database) as db:
        db.execute("UPDATE jobs SET state = 'stacking', outputs = '[]' WHERE id = ?", (job_id,))
    assert [j.id for j in rig.store.interrupt_leftovers()] == [job_id]


def record_captures(rig):
    """Keep every captured frame's metadata (the simulated camera says where it was)."""
    camera = rig.devices.camera
    captured = []
    real = camera.capture

    def capture():
        frame = real()
        captured.append(frame.metadata)
        return frame

    camera.capture = capture
    return captured


@pytest.mark.slow
def test_a_stack_across_the_subject_is_sharper_than_any_frame(rig):
    watcher = Watcher(rig)
    captured = record_captures(rig)
    job, created = rig.submit(StackPlan(start_mm=9.8, end_mm=12.2, count=13, settle_s=0))
    assert created and job.state == "queued"
    done = watcher.job_state(job.id, "done", "failed", timeout=120)
    assert done["state"] == "done", done["error"]
    files = JobFiles(rig.data_dir, job.id)
    assert [e.index for e in files.entries()] == list(range(13))
    assert {"result.jpg", "depth.png", "report.json"} <= set(done["outputs"])
    report = json.loads(files.path("report.json").read_text())
    ref = report["reference"]
    c = report["crop"]
    truth = rig.devices.camera.ground_truth(captured[ref]["SimTransform"])
    truth = truth[c["y"] : c["y"] + c["height"], c["x"] : c["x"] + c["width"]]
    result = cv2.cvtColor(cv2.imread(str(files.path("result.jpg"))), cv2.COLOR_BGR2RGB)
    fused = psnr(result, truth)
    singles = []
    for entry, info in zip(files.entries(), report["frames"], strict=True):
        image = cv2.cvtColor(cv2.imread(str(files.dir / entry.file)), cv2.COLOR_BGR2RGB)
        warp = geometry.from_cv(np.array(info["warp"]))
        aligned = cv2.warpAffine(
            image, geometry.to_cv(warp), (320, 240), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
        )
        singles.append(
            psnr(aligned[c["y"] : c["y"] + c["height"], c["x"] : c["x"] + c["width"]], truth)
        )
    assert fused >= max(singles) + 2.0, (fused, max(singles))
    # The frames were taken where the plan said, with the light on.
    focus = [m["SimFocusMm"] for m in captured[-13:]]
    assert focus == pytest.approx(
        StackPlan(start_mm=9.8, end_mm=12.2, count=13).positions(), abs=0.011
    )
    assert min(m["SimLight"] for m in captured) > 0.5
    assert rig.devices.light.is_lit is False


@pytest.mark.slow
def test_cancel_stops_after_the_current_frame_returns_and_keeps_the_frames(rig):
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=40, settle_s=0.05))
    watcher.frame(job.id, 3)
    rig.cancel(job.id)
    final = watcher.job_state(job.id, "cancelled", "done", "failed")
    assert final["state"] == "cancelled"
    kept = JobFiles(rig.data_dir, job.id).entries()
    assert 3 <= len(kept) < 40
    assert rig.store.job(job.id).frames_done == len(kept)
    assert rig.devices.rail.position_mm == pytest.approx(10.0, abs=0.011)  # back at the start
    assert rig.devices.light.is_lit is False
    # What was captured can still be stacked.
    again = rig.restack(job.id)
    restacked = watcher.job_state(again.id, "done", "failed")
    assert restacked["state"] == "done", restacked["error"]
    assert (JobFiles(rig.data_dir, again.id).path("result.jpg")).is_file()


@pytest.mark.slow
def test_an_interrupted_restack_resumes_by_fusing_again(rig):
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=4, settle_s=0))
    assert watcher.job_state(job.id, "done", "failed")["state"] == "done"
    again = rig.restack(job.id, method="depthmap")
    assert watcher.job_state(again.id, "done", "failed")["state"] == "done"
    died_while_stacking(rig, again.id)
    mark = watcher.mark()
    assert rig.resume(again.id).state == "queued"
    resumed = watcher.job_state(again.id, "done", "failed", after=mark)
    assert resumed["state"] == "done", resumed["error"]
    stored = rig.store.job(again.id)
    assert stored.kind == "restack" and stored.plan["method"] == "depthmap"
    assert "result.jpg" in stored.outputs
    assert len(rig.store.jobs()) == 2  # the same job finished, no new one


@pytest.mark.slow
def test_manual_moves_are_refused_while_a_stack_runs(rig):
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=20, settle_s=0.05))
    watcher.frame(job.id, 1)
    with pytest.raises(RigBusy, match="a stack is running"):
        rig.jog(0.5)
    with pytest.raises(RigBusy):
        rig.home()
    rig.cancel(job.id)
    watcher.job_state(job.id, "cancelled", "done")


def test_a_second_manual_move_is_refused_while_the_first_runs(rig):
    watcher = Watcher(rig)
    rig.home()
    with pytest.raises(RigBusy, match="already moving"):
        rig.jog(1.0)
    watcher.wait(lambda e: e.type == "rail" and e.data["state"] == "stopped")
    assert rig.devices.rail.known


def test_the_disk_preflight_refuses_a_stack_that_cannot_fit(rig, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(
        plan_module.shutil, "disk_usage", lambda _: usage(10**9, 0, 50 * 1024 * 1024)
    )
    with pytest.raises(PlanError, match="not enough disk space"):
        rig.submit(StackPlan(start_mm=10, end_mm=12, count=100))
    assert rig.store.jobs() == []


@pytest.mark.slow
def test_an_idempotency_key_does_not_start_a_second_stack(rig):
    a, created_a = rig.submit(
        StackPlan(start_mm=10, end_mm=12, count=3, settle_s=0), idempotency_key="x"
    )
    b, created_b = rig.submit(
        StackPlan(start_mm=10, end_mm=12, count=3, settle_s=0), idempotency_key="x"
    )
    assert created_a and not created_b and a.id == b.id
    assert len(rig.store.jobs()) == 1


@pytest.mark.slow
def test_a_schedule_fires_k_times_and_skips_slots_while_busy(rig):
    watcher = Watcher(rig)
    rig.store.save_preset(
        "quick", StackPlan(start_mm=10, end_mm=11, count=3, settle_s=0).model_dump(mode="json")
    )
    scheduler = rig.scheduler
    scheduler.stop()  # this test plays the clock itself
    schedule = rig.store.create_schedule(
        preset="quick", every_min=10, times=3, until=None, start_at=1000.0
    )

    def slot(t: float) -> str:
        """Tick at ``t``; what the schedule did (tick publishes synchronously)."""
        before = len(watcher.events)
        scheduler.tick(t)
        return next(e.data["action"] for e in watcher.events[before:] if e.type == "schedule")

    def last_started() -> str:
        return [
            e for e in watcher.events if e.type == "schedule" and e.data["action"] == "started"
        ][-1].data["job_id"]

    assert slot(1000) == "started"
    watcher.job_state(last_started(), "done")
    with rig.runner.rail_lock:  # holds the second stack at its start: it surely still runs…
        assert slot(1600) == "started"
        second = last_started()
        assert slot(2200) == "skipped"  # …when the next slot comes
    watcher.job_state(second, "done")
    assert slot(2800) == "started"
    watcher.job_state(last_started(), "done")
    s = rig.store.schedule(schedule.id)
    assert s.runs == 3 and s.skipped == 1 and not s.enabled
    assert all(j.schedule_id == schedule.id for j in rig.store.jobs())
    scheduler.tick(100_000)
    assert len(rig.store.jobs()) == 3  # finished: no fourth run


@pytest.mark.slow
def test_closing_the_rig_mid_stack_interrupts_the_job_and_switches_everything_off(tmp_path):
    rig = Rig(fast_config(tmp_path), simulate=True)
    rig.open()
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=30, settle_s=0.05))
    watcher.frame(job.id, 2)
    bench = rig.devices.bench
    rig.close()
    assert rig.store is not None
    final = Rig(fast_config(tmp_path), simulate=True)
    final.open()
    try:
        job_now = final.store.job(job.id)
        assert job_now.state == "interrupted"
        assert 2 <= job_now.frames_done < 30
        assert job_now.frames_done == len(JobFiles(final.data_dir, job.id).entries())
    finally:
        final.close()
    assert not bench.carriage.driver_enabled
    assert bench.light_level == 0


@pytest.mark.slow
def test_cancel_during_stacking_stops_the_fusing_and_keeps_the_frames(rig):
    watcher = Watcher(rig)
    gate = threading.Event()
    real_add = Stream.add

    def slow_add(self, frame, **kw):  # type: ignore[no-untyped-def]
        gate.wait(30)  # hold the stacker until the capture is over and cancel has come
        return real_add(self, frame, **kw)

    Stream.add = slow_add  # type: ignore[method-assign]
    try:
        job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=6, settle_s=0))
        watcher.job_state(job.id, "stacking")
        rig.cancel(job.id)
        gate.set()
        assert watcher.job_state(job.id, "cancelled", "done", "failed")["state"] == "cancelled"
    finally:
        Stream.add = real_add  # type: ignore[method-assign]
    assert len(JobFiles(rig.data_dir, job.id).entries()) == 6
    assert not JobFiles(rig.data_dir, job.id).path("result.jpg").exists()


@pytest.mark.slow
def test_two_triggers_at_once_run_one_after_the_other(rig):
    watcher = Watcher(rig)
    positions: list[float] = []
    bench = rig.devices.bench
    camera = rig.devices.camera
    real_capture = camera.capture

    def capture():  # type: ignore[no-untyped-def]
        positions.append(bench.carriage_mm)
        return real_capture()

    camera.capture = capture
    plans = [
        StackPlan(start_mm=10, end_mm=11, count=4, settle_s=0),
        StackPlan(start_mm=12, end_mm=13, count=4, settle_s=0),
    ]
    jobs: list = []
    threads = [threading.Thread(target=lambda p=p: jobs.append(rig.submit(p)[0])) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for j in jobs:
        assert watcher.job_state(j.id, "done", "failed")["state"] == "done"
    # One stack at a time: each stack's frames are together, in order, never interleaved.
    first, second = positions[-8:-4], positions[-4:]
    expected = sorted([[10, 10 + 1 / 3, 10 + 2 / 3, 11], [12, 12 + 1 / 3, 12 + 2 / 3, 13]])
    assert sorted([first, second]) == [pytest.approx(e, abs=0.011) for e in expected]


@pytest.mark.slow
def test_resuming_a_job_that_has_all_its_frames_only_stacks(rig):
    """Killed while stacking: every frame is saved, so the resume captures nothing."""
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=4, settle_s=0))
    watcher.job_state(job.id, "done")
    died_while_stacking(rig, job.id)
    captures = rig.devices.camera.status()["frames"]
    mark = watcher.mark()
    rig.resume(job.id)
    assert watcher.job_state(job.id, "done", "failed", after=mark)["state"] == "done"
    assert rig.devices.camera.status()["frames"] == captures  # no frame taken again


def test_a_job_cancelled_as_the_runner_takes_it_stays_cancelled(tmp_path):
    """The runner read the queue, then a cancel came before it started the job: the
    runner's start (queued → running) must lose, and nothing may be captured."""
    rig = Rig(fast_config(tmp_path), simulate=True)
    rig.open(start_runner=False)
    try:
        job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=4, settle_s=0))
        read_by_runner = rig.store.queued()[0]
        rig.cancel(job.id)
        frames_before = rig.devices.camera.status()["frames"]
        rig.runner._run(read_by_runner)  # the runner's turn, with what it had read
        assert rig.store.job(job.id).state == "cancelled"
        assert rig.devices.camera.status()["frames"] == frames_before
        assert JobFiles(rig.data_dir, job.id).entries() == []
    finally:
        rig.close()


def test_a_lens_sweep_steps_the_focus_motor_and_leaves_the_rail_alone(rig):
    watcher = Watcher(rig)
    camera = rig.devices.camera
    camera.lens_position = 0.0  # the simulated camera gets a focus motor
    lens_at: list[float] = []
    real_capture = camera.capture

    def capture():  # type: ignore[no-untyped-def]
        lens_at.append(camera.lens_position)
        return real_capture()

    camera.capture = capture
    rail_known = rig.devices.rail.known
    plan = StackPlan(lens={"start_dioptres": 2, "end_dioptres": 6, "count": 3}, settle_s=0)
    job, _ = rig.submit(plan)
    done = watcher.job_state(job.id, "done", "failed")
    assert done["state"] == "done", done["error"]
    assert lens_at[-3:] == pytest.approx([2, 4, 6])
    assert rig.devices.rail.known == rail_known  # no homing for a lens sweep
    assert [e.position for e in JobFiles(rig.data_dir, job.id).entries()] == pytest.approx(
        [2, 4, 6]
    )
