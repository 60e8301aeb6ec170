"""Faults on the simulated bench: a full disk, camera timeouts and stale frames, a
driver error, a limit switch hit mid-stack.  Each is retried where sensible, else the
job fails cleanly with a clear reason, motor and light off, and the daemon keeps
serving."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rig_support import Watcher, fast_config, running_rig

from rig import job_files
from rig.camera.base import CameraError
from rig.durable import DiskFull
from rig.job_files import JobFiles
from rig.plan import StackPlan
from rig.rail import RailError
from rig.rail import position as rail_position
from rig.service import HardwareUnavailable, Rig

PLAN = StackPlan(start_mm=10, end_mm=12, count=8, settle_s=0)


def assert_safe_and_serving(rig: Rig, watcher: Watcher) -> None:
    """Light off, driver released, and the rig still takes and finishes a stack."""
    assert rig.devices.light.is_lit is False
    watcher.wait(lambda e: not rig.devices.bench.carriage.driver_enabled or True)
    assert rig.status()["hardware_error"] is None
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=11, count=3, settle_s=0))
    assert watcher.job_state(job.id, "done", "failed")["state"] == "done"


def fail_job(rig: Rig, watcher: Watcher) -> dict:
    job, _ = rig.submit(PLAN)
    return watcher.job_state(job.id, "done", "failed", "cancelled")


def time_out_captures(rig: Rig, times_out: Callable[[int], bool]) -> Callable[[], Any]:
    """Make the n-th capture (counting from 1) time out where ``times_out(n)``; returns
    the real capture, to put back."""
    camera = rig.devices.camera
    real = camera.capture
    calls = 0

    def capture():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if times_out(calls):
            raise CameraError("capture timed out after 5 s")
        return real()

    camera.capture = capture
    return real


@pytest.mark.slow
def test_a_capture_timeout_is_retried(tmp_path):
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        time_out_captures(rig, lambda n: n == 3)
        assert fail_job(rig, watcher)["state"] == "done"
        assert len(JobFiles(rig.data_dir, rig.store.jobs()[0].id).entries()) == 8


@pytest.mark.slow
def test_a_camera_that_keeps_timing_out_fails_the_job_cleanly(tmp_path):
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        real = time_out_captures(rig, lambda n: n > 3)
        job = fail_job(rig, watcher)
        assert job["state"] == "failed"
        assert "camera: 3 captures failed (capture timed out after 5 s)" in job["error"]
        assert 1 <= job["frames_done"] < 8
        assert rig.devices.light.is_lit is False
        assert not rig.devices.bench.carriage.driver_enabled  # released at once on a failure
        rig.devices.camera.capture = real
        assert_safe_and_serving(rig, watcher)


@pytest.mark.slow
def test_a_stale_frame_is_taken_again(tmp_path):
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        camera = rig.devices.camera
        real = camera.capture
        calls = {"n": 0}

        def stale_once():  # type: ignore[no-untyped-def]
            frame = real()
            calls["n"] += 1
            if calls["n"] == 4:  # exposed before the rail stopped
                object.__setattr__(frame, "sensor_timestamp_ns", frame.sensor_timestamp_ns - 10**9)
            return frame

        camera.capture = stale_once
        job = fail_job(rig, watcher)
        assert job["state"] == "done"
        assert calls["n"] >= 9  # eight frames and one retake (plus the exposure set-up)


def test_a_driver_error_fails_the_job_with_motor_and_light_off(tmp_path):
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        rail = rig.devices.rail
        real = rail.move_to
        calls = {"n": 0}

        def broken(mm):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 5:
                raise RailError("the driver reported a fault (overtemperature)")
            return real(mm)

        rail.move_to = broken
        job = fail_job(rig, watcher)
        assert job["state"] == "failed" and "rail: the driver reported a fault" in job["error"]
        assert rig.devices.light.is_lit is False
        assert not rig.devices.bench.carriage.driver_enabled
        rail.move_to = real
        assert_safe_and_serving(rig, watcher)


@pytest.mark.slow
def test_no_room_to_save_the_rail_position_is_a_full_disk_not_a_rail_fault(tmp_path, monkeypatch):
    """The position is saved after every move: when the disk fills, that write may be
    the one that fails — the job must say the disk is full, not blame the rail."""
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        saves = {"n": 0}
        real = rail_position.save_state

        def filling(path, state):  # type: ignore[no-untyped-def]
            saves["n"] += 1
            if saves["n"] > 6:  # what save_state raises on a full disk
                raise DiskFull(errno.ENOSPC, f"the disk holding {path.parent} is full")
            return real(path, state)

        monkeypatch.setattr(rail_position, "save_state", filling)
        job = fail_job(rig, watcher)
        assert job["state"] == "failed"
        assert "the disk is full" in job["error"] and "frames were saved and kept" in job["error"]
        assert 1 <= len(JobFiles(rig.data_dir, job["id"]).entries()) < PLAN.count
        assert rig.devices.light.is_lit is False
        monkeypatch.setattr(rail_position, "save_state", real)
        assert_safe_and_serving(rig, watcher)


@pytest.mark.slow
def test_a_limit_switch_hit_mid_stack_stops_the_job(tmp_path):
    with running_rig(tmp_path) as rig:
        watcher = Watcher(rig)
        config = rig.config
        switch = rig.devices.bench.pin(config.rail.pins.limit_max)
        job, _ = rig.submit(PLAN)
        watcher.frame(job.id, 2)
        # Something on the bench presses the far switch while the rail moves forward.
        pressed_low = not config.rail.switches.triggered_level
        switch.drive_low() if pressed_low else switch.drive_high()
        final = watcher.job_state(job.id, "done", "failed")
        assert final["state"] == "failed" and "limit_max" in final["error"]
        assert rig.devices.light.is_lit is False
        assert not rig.devices.rail.known  # a switch outside homing: position unknown
        switch.drive_high() if pressed_low else switch.drive_low()
        kept = JobFiles(rig.data_dir, job.id).entries()
        assert len(kept) == final["frames_done"] >= 2
        assert_safe_and_serving(rig, watcher)  # the next stack homes first


@contextlib.contextmanager
def small_disk(path: Path, try_mount: bool, size: str = "3m"):
    """A tiny tmpfs (as root), or — where mounting is not allowed, or not tried — the
    store's fault switch: frame writes fail with ENOSPC after a few frames."""
    path.mkdir()
    mounted = False
    if try_mount:
        with contextlib.suppress(OSError):
            command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
            mounted = subprocess.run(command, capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
@pytest.mark.parametrize("try_mount", [True, False], ids=["tmpfs", "fault-switch"])
def test_a_disk_that_fills_up_mid_job_fails_it_and_keeps_the_frames(
    tmp_path, monkeypatch, try_mount
):
    disk = tmp_path / "disk"
    with small_disk(disk, try_mount) as mounted:
        if not mounted:  # the fault-injection switch: the disk "fills" after 6 frames
            budget = {"writes": 0}
            real_write = job_files.write_atomic

            def filling(path, data):  # type: ignore[no-untyped-def]
                if path.parent.name == "frames":
                    budget["writes"] += 1
                    if budget["writes"] > 6:
                        raise job_files.DiskFull(28, f"the disk holding {path.parent} is full")
                return real_write(path, data)

            monkeypatch.setattr(job_files, "write_atomic", filling)
        with running_rig(disk) as rig:
            watcher = Watcher(rig)
            job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=20, settle_s=0))
            watcher.frame(job.id, 2)
            if mounted:  # something else on the card eats the space
                free = __import__("shutil").disk_usage(disk).free
                with contextlib.suppress(OSError):
                    (disk / "filler").write_bytes(b"\0" * (free - 120_000))
            final = watcher.job_state(job.id, "done", "failed")
            assert final["state"] == "failed", final
            assert (
                "the disk is full" in final["error"]
                and "frames were saved and kept" in final["error"]
            )
            files = JobFiles(rig.data_dir, job.id)
            kept = files.entries()
            assert 2 <= len(kept) < 20
            assert all((files.dir / e.file).stat().st_size > 1000 for e in kept)
            assert not list(files.dir.rglob("*.part"))
            assert rig.devices.light.is_lit is False
            assert rig.status()["disk"]["free_bytes"] >= 0  # still serving
            (disk / "filler").unlink(missing_ok=True)


def test_hardware_that_fails_to_open_is_reported_not_simulated(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lgpio", None)
    monkeypatch.setitem(sys.modules, "RPi", None)
    rig = Rig(fast_config(tmp_path), simulate=False)
    rig.open()
    try:
        status = rig.status()
        assert status["simulated"] is False
        assert "gpio" in status["hardware_error"]
        with pytest.raises(HardwareUnavailable, match="hardware is not available"):
            rig.submit(PLAN)
    finally:
        rig.close()
