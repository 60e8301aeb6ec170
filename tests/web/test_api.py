"""The HTTP API: every route, auth on every route, the remote trigger, errors."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from rig_support import Watcher, running_rig

from web.app import create_app
from web.auth import Auth

TOKEN = "test-token-123"
PLAN = {"start_mm": 10, "end_mm": 12, "count": 5, "settle_s": 0}


@pytest.fixture
def app(rig):
    return create_app(rig, Auth(token=TOKEN, password="correct horse"))


@pytest.fixture
def client(app):
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


@pytest.fixture
def anon(app):
    with TestClient(app) as c:
        yield c


def wait_done(client, watcher, job_id, after=0):
    watcher.job_state(job_id, "done", "failed", "cancelled", after=after)
    return client.get(f"/api/jobs/{job_id}").json()


# -- auth ---------------------------------------------------------------------------------
PUBLIC = {"/api/login", "/api/logout", "/api/session"}


def test_every_api_route_needs_auth(app, anon):
    """Walks the app's OpenAPI description, so a route added without auth fails here: it
    must declare the bearer scheme and refuse a request that has no credentials."""
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api") or path in PUBLIC:
            continue
        for method, operation in operations.items():
            assert operation.get("security") == [{"HTTPBearer": []}], (method, path)
            response = anon.request(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
            assert response.status_code == 401, (method, path, response.status_code)
            assert "Bearer" in response.headers.get("www-authenticate", "")
            checked += 1
    assert checked >= 30


def test_docs_and_the_page_stay_public(anon):
    assert anon.get("/docs").status_code == 200
    assert anon.get("/openapi.json").status_code == 200
    assert anon.get("/").status_code == 200


def test_the_api_docs_work_without_internet(anon):
    """The rig has no internet: /docs must not load Swagger UI from a CDN."""
    page = anon.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert anon.get(asset).status_code == 200, asset


def test_the_page_and_its_scripts_are_revalidated_not_cached_stale(anon):
    for path in ("/", "/static/app.js", "/static/app.css"):
        r = anon.get(path)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache", path
    etag = anon.get("/static/app.js").headers["etag"]
    assert anon.get("/static/app.js", headers={"If-None-Match": etag}).status_code == 304


def test_login_sets_a_strict_httponly_session_cookie(anon):
    for secret in (TOKEN, "correct horse"):
        anon.cookies.clear()
        ok = anon.post("/api/login", json={"secret": secret})
        assert ok.status_code == 200
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert anon.get("/api/status").status_code == 200
    anon.post("/api/logout")
    anon.cookies.clear()
    assert anon.get("/api/status").status_code == 401
    bad = anon.post("/api/login", json={"secret": "nope"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_a_session_survives_a_restart_and_ends_at_logout_or_expiry():
    """The cookie is signed, not remembered: a new daemon (a new Auth with the same
    token) accepts it; logout, a forged MAC, expiry or a changed token end it."""
    first = Auth(token=TOKEN)
    sid = first.new_session()
    restarted = Auth(token=TOKEN)
    assert restarted.session_valid(sid)
    body, _, mac = sid.rpartition(".")
    assert not restarted.session_valid(f"{body}.{'0' * len(mac)}")
    assert not restarted.session_valid("9999999999.x." + mac)  # a longer expiry, same MAC
    assert not Auth(token="another-token").session_valid(sid)
    assert not Auth(token=TOKEN, session_s=-1).session_valid(
        Auth(token=TOKEN, session_s=-1).new_session()
    )
    restarted.end_session(sid)
    assert not restarted.session_valid(sid)
    assert restarted.session_valid(restarted.new_session())


def test_failed_logins_are_slowed_down(app, anon):
    """A wrong secret locks its sender out for a moment: tries in the pause are refused
    unchecked (test_hostile_web.py has the details, on a frozen clock)."""
    app.state.auth.lockout.clock = lambda: 1000.0  # frozen: the pause never runs out here
    codes = [anon.post("/api/login", json={"secret": "wrong"}).status_code for _ in range(4)]
    assert codes == [401, 401, 429, 429]  # the first failure is free (a typo)
    assert app.state.auth.lockout.failures("testclient") == 2


# -- status, rail, camera -----------------------------------------------------------------
def test_status_reports_the_rig(client):
    s = client.get("/api/status").json()
    assert s["simulated"] is True and s["hardware_error"] is None
    assert {"rail", "camera", "light", "job", "queue", "disk", "cpu_temperature_c"} <= set(s)
    assert s["disk"]["free_bytes"] > 0


@pytest.mark.slow
def test_jog_home_marks_and_limits(rig, client):
    watcher = Watcher(rig)
    assert client.post("/api/rail/home").status_code == 202
    watcher.wait(lambda e: e.type == "rail" and e.data["state"] == "stopped")
    assert client.post("/api/rail/move", json={"mm": 10}).status_code == 202
    watcher.wait(
        lambda e: e.type == "rail" and e.data["state"] == "stopped" and "move" in e.data["action"]
    )
    assert client.post("/api/rail/marks/start").json()["start"] == pytest.approx(10, abs=0.01)
    assert client.post("/api/rail/jog", json={"mm": 2}).status_code == 202
    watcher.wait(
        lambda e: e.type == "rail" and e.data["state"] == "stopped" and "jog" in e.data["action"]
    )
    assert client.post("/api/rail/marks/end").json()["end"] == pytest.approx(12, abs=0.01)
    out = client.post("/api/rail/move", json={"mm": 80})
    assert out.status_code == 422 and "outside the rail's soft limits" in out.json()["detail"]
    assert client.post("/api/rail/marks/middle").status_code == 422


def test_preview_snapshot_zoom_and_peaking_are_jpegs(client):
    for url in (
        "/api/camera/preview.jpg",
        "/api/camera/preview.jpg?peaking=true",
        "/api/camera/snapshot.jpg",
        "/api/camera/zoom.jpg?x=0.3&y=0.6&size=128&peaking=true",
    ):
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", url
        assert r.content[:2] == b"\xff\xd8"
    assert client.get("/api/camera/zoom.jpg?x=2").status_code == 422


def test_mjpeg_preview_streams_jpeg_parts(client):
    with client.stream("GET", "/api/camera/preview.mjpg") as r:
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=")
        head = b""
        for chunk in r.iter_bytes():
            head += chunk
            if head.count(b"\xff\xd8") >= 1 and b"Content-Type: image/jpeg" in head:
                break
    assert b"--macrorigframe" in head


def test_exposure_and_light(client):
    locked = client.post("/api/camera/exposure", json={"mode": "lock"}).json()
    assert locked["mode"] == "fixed" and locked["exposure_us"] > 0
    assert client.post("/api/camera/exposure", json={"mode": "auto"}).json()["mode"] == "auto"
    fixed = client.post(
        "/api/camera/exposure", json={"mode": "fixed", "exposure_us": 5000, "gain": 2}
    ).json()
    assert fixed["exposure_us"] == 5000
    assert client.post("/api/camera/light", json={"level": 0.5}).json()["on"] is True
    assert client.post("/api/camera/light", json={"level": 0}).json()["on"] is False
    assert client.post("/api/camera/light", json={"level": 2}).status_code == 422


# -- plans, presets, schedules ------------------------------------------------------------
def test_dof_calculator_and_plan_check(client):
    dof = client.post("/api/plans/dof", json={"magnification": 1, "f_number": 16}).json()
    assert dof["dof_um"] == pytest.approx(2252.8, abs=0.1) and dof["step_um"] == pytest.approx(
        0.7 * 2252.8, abs=0.2
    )
    check = client.post(
        "/api/plans/check", json={"start_mm": 10, "end_mm": 12, "step_um": 300}
    ).json()
    assert check["frames"] == 8 and check["estimated_s"] > 0
    bad = client.post("/api/plans/check", json={"start_mm": 10, "end_mm": 99, "count": 5})
    assert bad.status_code == 422 and "soft limits" in bad.json()["detail"]


def test_presets_crud(client):
    assert client.put("/api/presets/bee", json={"plan": PLAN}).status_code == 200
    assert client.get("/api/presets/bee").json()["plan"]["count"] == 5
    assert [p["name"] for p in client.get("/api/presets").json()] == ["bee"]
    assert client.delete("/api/presets/bee").status_code == 204
    assert client.get("/api/presets/bee").status_code == 404


def test_schedules_crud(client):
    client.put("/api/presets/bee", json={"plan": PLAN})
    made = client.post(
        "/api/schedules",
        json={"preset": "bee", "every_min": 30, "times": 4, "start_at": 4_000_000_000},
    )
    assert made.status_code == 201
    sid = made.json()["id"]
    assert client.get(f"/api/schedules/{sid}").json()["times"] == 4
    assert client.patch(f"/api/schedules/{sid}", json={"enabled": False}).json()["enabled"] is False
    assert (
        client.post(
            "/api/schedules", json={"preset": "nope", "every_min": 5, "times": 1}
        ).status_code
        == 404
    )
    assert client.post("/api/schedules", json={"preset": "bee", "every_min": 5}).status_code == 422
    assert client.delete(f"/api/schedules/{sid}").status_code == 204
    assert client.get("/api/schedules").json() == []


# -- jobs: the remote trigger -------------------------------------------------------------
def test_trigger_a_stack_and_fetch_its_results(rig, client):
    watcher = Watcher(rig)
    r = client.post("/api/jobs", json={"plan": PLAN})
    assert r.status_code == 201
    job = r.json()
    assert job["state"] == "queued" and r.headers["location"] == f"/api/jobs/{job['id']}"
    done = wait_done(client, watcher, job["id"])
    assert done["state"] == "done"
    for name in ("result.jpg", "depth.png", "report.json", "preview.jpg"):
        got = client.get(done["urls"][name])
        assert got.status_code == 200 and got.content, name
    frames = client.get(f"/api/jobs/{job['id']}/frames").json()
    assert len(frames) == 5
    assert client.get(frames[0]["url"]).content[:2] == b"\xff\xd8"
    assert client.get(f"/api/jobs/{job['id']}/frames/99").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/result.tif").status_code == 404  # not asked for
    assert client.get("/api/jobs").json()[0]["id"] == job["id"]


@pytest.mark.slow
def test_a_preset_can_be_triggered_by_name(rig, client):
    watcher = Watcher(rig)
    client.put("/api/presets/quick", json={"plan": {**PLAN, "count": 3}})
    job = client.post("/api/jobs", json={"preset": "quick"}).json()
    assert wait_done(client, watcher, job["id"])["frames_done"] == 3
    assert client.post("/api/jobs", json={"preset": "missing"}).status_code == 404


@pytest.mark.slow
def test_an_idempotency_key_makes_a_retry_safe(client):
    headers = {"Idempotency-Key": "abc-1"}
    first = client.post("/api/jobs", json={"plan": PLAN}, headers=headers)
    second = client.post("/api/jobs", json={"plan": PLAN}, headers=headers)
    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert len(client.get("/api/jobs").json()) == 1


@pytest.mark.slow
def test_cancel_resume_restack_and_delete(rig, client):
    watcher = Watcher(rig)
    job = client.post("/api/jobs", json={"plan": {**PLAN, "count": 30, "settle_s": 0.05}}).json()
    watcher.frame(job["id"], 2)
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200
    assert wait_done(client, watcher, job["id"])["state"] == "cancelled"
    restack = client.post(f"/api/jobs/{job['id']}/restack", json={"method": "depthmap"})
    assert restack.status_code == 201
    assert wait_done(client, watcher, restack.json()["id"])["state"] == "done"
    mark = watcher.mark()
    resumed = client.post(f"/api/jobs/{job['id']}/resume")
    assert resumed.status_code == 200
    assert wait_done(client, watcher, job["id"], after=mark)["frames_done"] == 30
    assert (
        client.post(f"/api/jobs/{job['id']}/resume").status_code == 409
    )  # done: nothing to resume
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 409  # nothing to cancel
    assert client.delete(f"/api/jobs/{job['id']}/files").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not (rig.data_dir / "jobs" / job["id"]).exists()


@pytest.mark.slow
def test_busy_rail_is_a_409(rig, client):
    watcher = Watcher(rig)
    job = client.post("/api/jobs", json={"plan": {**PLAN, "count": 30, "settle_s": 0.05}}).json()
    watcher.frame(job["id"], 1)
    r = client.post("/api/rail/jog", json={"mm": 1})
    assert r.status_code == 409 and "a stack is running" in r.json()["detail"]
    assert client.get("/api/camera/snapshot.jpg").status_code == 409
    client.delete(f"/api/jobs/{job['id']}")
    wait_done(client, watcher, job["id"])


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    fail_first = 0
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            type(self).received.append(body)
            type(self).arrived.set()
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_callback_is_delivered_with_retries(tmp_path):
    _Receiver.received, _Receiver.fail_first = [], 1
    _Receiver.arrived.clear()
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A receiver on this machine: loopback is refused unless the config allows it.
    allow = '[callbacks]\nallow = ["127.0.0.1"]\n'
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with (
            running_rig(tmp_path, allow) as rig,
            TestClient(create_app(rig, Auth(TOKEN)), headers=headers) as client,
        ):
            rig.callbacks.first_pause_s = 0.05
            url = f"http://127.0.0.1:{server.server_address[1]}/hook"
            job = client.post("/api/jobs", json={"plan": PLAN, "callback_url": url}).json()
            assert _Receiver.arrived.wait(60)  # delivered from its own thread after the job
            assert _Receiver.received[0]["id"] == job["id"]
            assert _Receiver.received[0]["state"] == "done"
            assert _Receiver.fail_first == 0  # the first (failed) attempt was retried
    finally:
        server.shutdown()


@pytest.mark.slow
def test_server_sent_events_replay_what_a_client_missed(rig, client):
    watcher = Watcher(rig)
    job = client.post("/api/jobs", json={"plan": PLAN}).json()
    watcher.job_state(job["id"], "done")
    seen: list[tuple[str, dict]] = []
    with client.stream("GET", "/api/events", headers={"Last-Event-ID": "0"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event:
                seen.append((event, json.loads(line.split(":", 1)[1])))
                if event == "job" and seen[-1][1]["job"]["state"] == "done":
                    break
    states = [d["job"]["state"] for e, d in seen if e == "job"]
    assert states == ["queued", "running", "stacking", "done"]
    frames = [d["frame"] for e, d in seen if e == "frame"]
    assert frames == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_the_job_resource_carries_the_state_rules(rig, client):
    """The page decides nothing from a state's name: final, resumable and restackable
    come with the job, in the API and in its events alike."""
    watcher = Watcher(rig)
    queued = client.post("/api/jobs", json={"plan": PLAN}).json()
    assert (queued["final"], queued["resumable"], queued["restackable"]) == (False, False, False)
    done = wait_done(client, watcher, queued["id"])
    assert (done["final"], done["resumable"], done["restackable"]) == (True, False, True)
    event = watcher.job_state(queued["id"], "done")
    assert set(event) | {"urls"} == set(done)  # one serializer
    long = client.post("/api/jobs", json={"plan": {**PLAN, "count": 30, "settle_s": 0.05}}).json()
    watcher.frame(long["id"], 2)
    client.delete(f"/api/jobs/{long['id']}")
    cancelled = wait_done(client, watcher, long["id"])
    assert cancelled["state"] == "cancelled"
    assert (cancelled["final"], cancelled["resumable"], cancelled["restackable"]) == (
        True,
        True,
        True,
    )


def test_an_internal_error_is_a_logged_500_not_a_client_error(rig, app, caplog, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ValueError("a bug in the rig")

    monkeypatch.setattr(rig, "job_list", broken)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, headers=headers, raise_server_exceptions=False) as c:
        r = c.get("/api/jobs")
    assert r.status_code == 500
    assert "a bug" not in r.text  # no internals to the client…
    assert "a bug in the rig" in caplog.text and "Traceback" in caplog.text  # …all in the log


def test_schedules_and_presets_are_checked_by_the_rig(rig, client):
    client.put("/api/presets/bee", json={"plan": PLAN})
    past = client.post(
        "/api/schedules", json={"preset": "bee", "every_min": 5, "times": 2, "until": 1000.0}
    )
    assert past.status_code == 400 and "until is in the past" in past.json()["detail"]
    # A preset saved by an older version, no longer a valid plan: a 422 that says so.
    rig.store.save_preset("old", {"start_mm": 10, "end_mm": 12})
    r = client.post("/api/jobs", json={"preset": "old"})
    assert r.status_code == 422 and "preset 'old'" in r.json()["detail"]


# -- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"plan": {"start_mm": 10, "end_mm": 12}}', "either step_um or count"),
        ('{"plan": {"start_mm": NaN, "end_mm": 12, "count": 3}}', "finite"),
        ('{"plan": {"start_mm": 10, "end_mm": 12, "count": -3}}', "greater than or equal to 2"),
        ('{"plan": {"start_mm": 10, "end_mm": 12, "step_um": -1}}', "greater than or equal to 0.1"),
        ('{"plan": {"start_mm": 10, "end_mm": 90, "count": 3}}', "soft limits"),
        (
            '{"plan": {"start_mm": 10, "end_mm": 12, "count": 3}, "preset": "x"}',
            "either plan or preset",
        ),
        ('{"plan": ', "JSON"),
        ("[]", "valid dictionary"),
        (
            '{"plan": {"start_mm": 10, "end_mm": 12, "count": 3}, "callback_url": "ftp://x"}',
            "callback_url",
        ),
    ],
)
def test_bad_plans_get_a_4xx_that_says_what_to_fix(client, body, fragment):
    r = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    assert fragment.lower() in r.json()["detail"].lower()


def test_oversized_bodies_are_refused(client):
    r = client.post(
        "/api/jobs", content=b"x" * 300_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


@pytest.mark.slow
def test_unknown_jobs_and_files(client):
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope/result.jpg").status_code == 404
    job = client.post("/api/jobs", json={"plan": PLAN}).json()
    for name in ("../macrorig.db", "..%2F..%2Fapi-token", "manifest.jsonl", "%2e%2e"):
        assert client.get(f"/api/jobs/{job['id']}/{name}").status_code == 404, name
