"""Plans a careless client sends: steps the rail cannot resolve, a range of nothing,
colour gains at float extremes, a queue that fills the disk or grows without end."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest
from api_support import api_client
from rig_support import running_rig

from rig.plan import StackPlan, estimate_bytes


@pytest.fixture
def rig(tmp_path):
    with running_rig(tmp_path, extra="\n[jobs]\nqueue_max = 3\n") as r:
        r.runner.shutdown()  # jobs stay queued: these tests look at the queue
        yield r


@pytest.fixture
def client(rig):
    with api_client(rig) as c:
        yield c


def test_steps_finer_than_a_microstep_are_refused_with_the_smallest_step(client):
    # The test rig: 200 full steps per 2 mm turn, no microstepping → 10 µm per step.
    r = client.post("/api/plans/check", json={"start_mm": 10, "end_mm": 10.0001, "count": 5000})
    assert r.status_code == 422
    assert "finer than this rail can move" in r.json()["detail"]
    assert "smallest step is 10 µm" in r.json()["detail"]
    r = client.post("/api/plans/check", json={"start_mm": 10, "end_mm": 11, "step_um": 5})
    assert r.status_code == 422 and "smallest step is 10 µm" in r.json()["detail"]
    ok = client.post("/api/plans/check", json={"start_mm": 10, "end_mm": 11, "step_um": 10})
    assert ok.status_code == 200, ok.json()


def test_a_range_of_femtometres_is_the_same_position(client):
    r = client.post("/api/plans/check", json={"start_mm": 10, "end_mm": 10 + 2e-15, "count": 3})
    assert r.status_code == 422 and "same position" in r.json()["detail"]


def test_colour_gains_are_capped_as_the_camera_route_caps_them(client):
    plan = {"start_mm": 10, "end_mm": 12, "count": 3}
    for gains in ([1e308, 1], [1, 33], [0, 1]):
        body = {**plan, "exposure": {"mode": "auto", "colour_gains": gains}}
        r = client.post("/api/plans/check", json=body)
        assert r.status_code == 422, gains
        assert "colour_gains" in r.json()["detail"]
    body = {**plan, "exposure": {"mode": "auto", "colour_gains": [32, 1.5]}}
    assert client.post("/api/plans/check", json=body).status_code == 200


def test_the_disk_preflight_counts_the_jobs_already_queued(rig, client, monkeypatch):
    plan = StackPlan(start_mm=10, end_mm=12, count=10, settle_s=0)
    one = estimate_bytes(plan, (320, 240))
    usage = shutil.disk_usage(rig.data_dir)
    reserve = min(200 * 1024 * 1024, usage.total // 20)
    # Room for two such stacks beyond the reserve, not three.
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(
        shutil, "disk_usage", lambda _: Usage(usage.total, 0, reserve + int(2.5 * one))
    )
    body = {"plan": plan.model_dump(mode="json")}
    assert client.post("/api/jobs", json=body).status_code == 201
    assert client.post("/api/jobs", json=body).status_code == 201
    third = client.post("/api/jobs", json=body)
    assert third.status_code == 422
    assert "the stacks already queued need" in third.json()["detail"]
    check = client.post("/api/plans/check", json=body["plan"])
    assert check.status_code == 422  # the check says what a submit would


def test_the_queue_has_a_length_limit(rig, client):
    body = {"plan": {"start_mm": 10, "end_mm": 12, "count": 3}}
    for _ in range(3):
        assert client.post("/api/jobs", json=body).status_code == 201
    r = client.post("/api/jobs", json=body)
    assert r.status_code == 409
    assert "3 stacks are already waiting" in r.json()["detail"]
    assert "jobs.queue_max" in r.json()["detail"]
    assert len(rig.store.queued()) == 3
