"""A new user's first minutes on the simulated bench, below the page: the room's light
shows the subject before the LED is on, "go to subject" after homing, fine jogs that
queue, the rail position in frame events, one shape for the exposure."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from rig_support import Watcher

from rig.config import Config
from rig.light import Light
from rig.plan import StackPlan
from rig.sim.hardware.bench import SimBench
from rig.sim.hardware.camera import SimCamera
from web.app import create_app
from web.auth import Auth

TOKEN = "first-run-token"


@pytest.fixture
def client(rig):
    app = create_app(rig, Auth(token=TOKEN))
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def rail_stopped(watcher: Watcher, after: int) -> dict:
    return watcher.wait(
        lambda e: e.type == "rail" and e.data["state"] == "stopped", after=after
    ).data


# -- the room's light -----------------------------------------------------------------------
def bench_camera(tmp_path, ambient: float | None) -> tuple[SimBench, Light, SimCamera]:
    sim = {"resolution": [320, 240], "preview_size": [160, 120]}
    if ambient is not None:
        sim["ambient"] = ambient
    config = Config.model_validate({"data": {"dir": str(tmp_path)}, "sim": sim})
    bench = SimBench(config)
    light = Light.from_config(config.light, pin_factory=bench.pin_factory)
    camera = SimCamera(bench, config.sim)
    camera.start()
    return bench, light, camera


def preview_mean(camera: SimCamera) -> float:
    jpeg = camera.preview_jpeg()
    assert jpeg is not None
    return float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).mean())


def test_the_room_light_shows_the_subject_dim_before_the_led_is_on(tmp_path):
    bench, light, camera = bench_camera(tmp_path / "room", None)  # the default room
    dark_bench, dark_light, dark_camera = bench_camera(tmp_path / "dark", 0.0)
    try:
        assert preview_mean(camera) > 15  # the page's first picture is not black
        assert preview_mean(dark_camera) < 2  # a dark room, as before
        room = camera.capture().image.mean()
        light.on(1.0)
        lit = camera.capture().image.mean()
        assert 15 < room < lit / 2, (room, lit)
    finally:
        for thing in (camera, light, bench, dark_camera, dark_light, dark_bench):
            thing.close()


def test_with_the_led_at_full_the_room_adds_nothing_so_the_truth_still_holds(tmp_path):
    """The reference light is room + LED at full: frames of a stack (LED at full) are the
    ones the renderer's ground truth describes, whatever the room's light."""
    images = []
    for ambient in (0.0, 0.3):
        bench, light, camera = bench_camera(tmp_path / str(ambient), ambient)
        try:
            light.on(1.0)
            frame = camera.capture()
            assert frame.metadata["SimLight"] == 1.0
            images.append(frame.image)
        finally:
            camera.close()
            light.close()
            bench.close()
    assert np.array_equal(images[0], images[1])


# -- from "position unknown" to the subject ----------------------------------------------------
@pytest.mark.slow
def test_home_then_go_to_the_subject(rig, client):
    watcher = Watcher(rig)
    status = client.get("/api/status").json()
    assert status["subject"] == {
        "range_mm": [10.0, 12.0],
        "focus_mm": 11.0,
        "source": "simulated scene",
    }
    assert status["rail"]["state"] == "unknown"
    refused = client.post("/api/rail/subject")
    assert refused.status_code == 409 and "home the rail first" in refused.json()["detail"]

    mark = watcher.mark()
    assert client.post("/api/rail/home").status_code == 202
    assert rail_stopped(watcher, mark)["known"] is True
    mark = watcher.mark()
    assert client.post("/api/rail/subject").status_code == 202
    stopped = rail_stopped(watcher, mark)
    assert stopped["error"] is None and stopped["position_mm"] == pytest.approx(11.0, abs=0.01)
    assert rig.devices.bench.carriage_mm == pytest.approx(11.0, abs=0.01)


@pytest.mark.slow
def test_on_a_real_rig_the_subject_is_where_the_marks_were(rig, client, monkeypatch):
    monkeypatch.setattr(rig.devices.camera, "subject_range_mm", lambda: None)  # no scene
    assert client.get("/api/status").json()["subject"] is None
    refused = client.post("/api/rail/subject")
    assert refused.status_code == 409 and "set start and end" in refused.json()["detail"]

    watcher = Watcher(rig)
    mark = watcher.mark()
    client.post("/api/rail/home")
    rail_stopped(watcher, mark)
    for which, mm in (("end", 14.0), ("start", 13.0)):
        mark = watcher.mark()
        client.post("/api/rail/move", json={"mm": mm})
        rail_stopped(watcher, mark)
        client.post(f"/api/rail/marks/{which}")
    subject = client.get("/api/status").json()["subject"]
    assert subject == {"range_mm": [13.0, 14.0], "focus_mm": 13.5, "source": "marks"}


# -- fine jogs queue ---------------------------------------------------------------------------
def hold_first_move(rig, monkeypatch) -> tuple[threading.Event, threading.Event, list[float]]:
    """Make the first ``move_by`` wait for a gate (a long move still running), recording
    every jog the rail is asked for."""
    rail = rig.devices.rail
    real = rail.move_by
    started, gate = threading.Event(), threading.Event()
    asked: list[float] = []

    def move_by(mm: float) -> None:
        asked.append(mm)
        if len(asked) == 1:
            started.set()
            assert gate.wait(30)
        real(mm)

    monkeypatch.setattr(rail, "move_by", move_by)
    return started, gate, asked


@pytest.mark.slow
def test_five_taps_on_a_fine_jog_during_a_move_are_five_steps(rig, client, monkeypatch):
    watcher = Watcher(rig)
    mark = watcher.mark()
    client.post("/api/rail/home")
    before = rail_stopped(watcher, mark)["position_mm"]
    started, gate, asked = hold_first_move(rig, monkeypatch)

    mark = watcher.mark()
    assert client.post("/api/rail/jog", json={"mm": 1.0}).status_code == 202
    assert started.wait(30)  # the first jog is moving
    for _ in range(5):
        answer = client.post("/api/rail/jog", json={"mm": 0.01})
        assert answer.status_code == 202, answer.json()
    assert client.post("/api/rail/home").status_code == 409  # only jogs queue
    gate.set()
    stopped = rail_stopped(watcher, mark)
    assert asked == [1.0] + [0.01] * 5
    assert stopped["position_mm"] == pytest.approx(before + 1.05, abs=1e-6)
    assert client.get("/api/rail").json()["busy"] is False


@pytest.mark.slow
def test_stop_drops_the_jogs_still_waiting(rig, client, monkeypatch):
    watcher = Watcher(rig)
    mark = watcher.mark()
    client.post("/api/rail/home")
    rail_stopped(watcher, mark)
    started, gate, asked = hold_first_move(rig, monkeypatch)
    mark = watcher.mark()
    client.post("/api/rail/jog", json={"mm": 1.0})
    assert started.wait(30)
    for _ in range(3):
        client.post("/api/rail/jog", json={"mm": 0.01})
    client.post("/api/rail/stop")
    gate.set()
    rail_stopped(watcher, mark)
    assert asked == [1.0]


def test_a_jog_queue_cannot_run_past_the_soft_limits(rig, client, monkeypatch):
    watcher = Watcher(rig)
    mark = watcher.mark()
    client.post("/api/rail/home")
    rail_stopped(watcher, mark)
    started, gate, _asked = hold_first_move(rig, monkeypatch)
    client.post("/api/rail/jog", json={"mm": 30.0})
    assert started.wait(30)
    client.post("/api/rail/jog", json={"mm": 10.0})
    refused = client.post("/api/rail/jog", json={"mm": 10.0})  # would end past 49.5 mm
    assert refused.status_code == 422 and "outside the soft limits" in refused.json()["detail"]
    gate.set()


# -- frame events and the exposure ---------------------------------------------------------------
@pytest.mark.slow
def test_frame_events_say_where_the_rail_was(rig):
    watcher = Watcher(rig)
    plan = StackPlan(start_mm=10, end_mm=12, count=5, settle_s=0)
    job, _ = rig.submit(plan)
    watcher.job_state(job.id, "done")
    frames = [e.data for e in watcher.events if e.type == "frame" and e.data["job_id"] == job.id]
    assert [f["position_mm"] for f in frames] == pytest.approx(plan.positions(), abs=0.011)


def test_the_exposure_has_one_shape_in_status_and_in_its_route(client):
    for body in (
        {"mode": "lock"},
        {"mode": "fixed", "exposure_us": 5000, "gain": 2},
        {"mode": "auto"},
    ):
        answer = client.post("/api/camera/exposure", json=body).json()
        assert answer == client.get("/api/status").json()["camera"]["exposure"]
        assert set(answer) == {"mode", "exposure_us", "gain", "colour_gains"}
        assert answer["mode"] == ("auto" if body["mode"] == "auto" else "fixed")
