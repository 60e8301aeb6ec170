"""The whole rig on a fake Pi: gpiozero's lgpio pins, the lgpio pulser and picamera2, all
over the strict fakes (``tests/fakes``), with the shipped example config — stacks run and
the rig shuts down cleanly after moves, a cancel and a camera timeout."""

from __future__ import annotations

import pytest
from camera_support import fake_picamera2
from pi_support import ENABLE, LED, PI4, STEP, example_config, fake_pi, forget_fake_pi
from rig_support import Watcher

from rig.config import load_config
from rig.plan import StackPlan
from rig.service import HardwareUnavailable, Rig

SMALL_CAMERA = {"resolution": [64, 48], "preview_size": [32, 24], "capture_timeout_s": 0.5}


@pytest.fixture
def pi(monkeypatch):
    yield fake_pi(monkeypatch, PI4, {0})
    forget_fake_pi()


@pytest.fixture
def picamera2(monkeypatch):
    for fake in fake_picamera2(monkeypatch):
        fake.Picamera2.textured = True  # something for the stacker to align
        fake.Picamera2.real_time = True  # timestamps comparable with the runner's clock
        yield fake


@pytest.fixture
def rig(pi, picamera2, tmp_path):
    config = load_config(example_config(tmp_path, camera=SMALL_CAMERA))
    pi.attach_carriage(config, at_mm=8.0)
    rig = Rig(config, simulate=False)
    rig.open()
    assert rig.hardware_error is None
    yield rig
    rig.close()  # must not raise: "Application shutdown complete", not "failed"
    assert not pi.lgpio.tx_active(0, STEP) and pi.lgpio.driven_levels(0, ENABLE)[-1] == 1
    assert set(pi.lgpio.driven_levels(0, LED)) == {0} or not pi.lgpio.tx_active(0, LED)


def home(rig: Rig, watcher: Watcher) -> None:
    mark = watcher.mark()
    rig.home()
    event = watcher.wait(
        lambda e: e.type == "rail" and e.data.get("state") == "stopped", after=mark
    )
    assert event.data["error"] is None and event.data["known"]


@pytest.mark.slow
def test_a_stack_runs_on_the_example_config_and_the_rig_closes_cleanly(rig, pi):
    watcher = Watcher(rig)
    home(rig, watcher)
    plan = StackPlan(start_mm=10.0, end_mm=10.2, step_um=50, settle_s=0.0, outputs=["jpg"])
    job, _ = rig.submit(plan)
    done = watcher.job_state(job.id, "done", "failed", "cancelled")
    assert done["state"] == "done", done.get("error")
    assert done["frames_done"] == 5
    # The carriage really went there: 10.2 mm, then back to the start (return_to_start).
    assert abs(pi.lgpio.carriage.position - 10.0 * 3200) <= 3


@pytest.mark.slow
def test_a_cancelled_stack_leaves_the_rig_to_close_cleanly(rig, pi):
    watcher = Watcher(rig)
    home(rig, watcher)
    plan = StackPlan(start_mm=10.0, end_mm=12.0, step_um=50, settle_s=0.05)
    job, _ = rig.submit(plan)
    watcher.frame(job.id, 2)
    rig.cancel(job.id)
    assert watcher.job_state(job.id, "cancelled", "failed", "done")["state"] == "cancelled"


def test_after_a_camera_timeout_the_rig_closes_cleanly(rig, pi, picamera2):
    picamera2.Picamera2.stall = True
    with pytest.raises(HardwareUnavailable, match="no frame metadata"):
        rig.exposure("lock")
    camera = picamera2.Picamera2.instances[-1]
    rig.close()
    assert camera.closed and not camera.deadlocked
