"""`macrorig serve` as a real process: crash and resume, SIGTERM, start-up errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from rig_support import DaemonProcess, config_file, free_port, psnr

PLAN = {"start_mm": 10, "end_mm": 12, "count": 12, "settle_s": 0.15}


class Daemon(DaemonProcess):
    """The daemon on a fast simulated rig, with a few waits for these tests."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        config = tmp_path / "rig.toml"
        if not config.exists():
            config_file(tmp_path)
        super().__init__(config, tmp_path / "data", port)
        self.client = self.start().http

    def until(self, what, timeout: float = 90):  # type: ignore[no-untyped-def]
        """Poll the API until ``what()`` returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError("timed out")

    def job(self, job_id: str) -> dict:
        return self.client.get(f"/api/jobs/{job_id}").json()

    def finished(self, job_id: str) -> dict:
        return self.until(
            lambda: (j := self.job(job_id))["state"] in ("done", "failed", "cancelled") and j
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[int, str]:  # type: ignore[override]
        """Exit status and everything the daemon logged."""
        code = super().stop(sig, timeout)
        return code, self.log(tail=1_000_000)


def common_part(job_dir: Path, other_dir: Path):  # type: ignore[no-untyped-def]
    """``job_dir``'s result cut to the area both results cover (each crop is reported in
    its reference frame's pixels; both references sit at the same rail position)."""
    mine = json.loads((job_dir / "report.json").read_text())["crop"]
    theirs = json.loads((other_dir / "report.json").read_text())["crop"]
    x0, y0 = max(mine["x"], theirs["x"]), max(mine["y"], theirs["y"])
    x1 = min(mine["x"] + mine["width"], theirs["x"] + theirs["width"])
    y1 = min(mine["y"] + mine["height"], theirs["y"] + theirs["height"])
    image = cv2.imread(str(job_dir / "result.jpg"))
    return image[y0 - mine["y"] : y1 - mine["y"], x0 - mine["x"] : x1 - mine["x"]]


@pytest.mark.slow
def test_a_killed_daemon_leaves_a_resumable_job(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, port)
    job = d.client.post("/api/jobs", json={"plan": PLAN}).json()
    d.until(lambda: d.job(job["id"])["frames_done"] >= 4)
    code, _ = d.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL

    d = Daemon(tmp_path, port)
    try:
        status = d.client.get("/api/status").json()
        assert status["light"]["on"] is False and status["rail"]["enabled"] is False
        interrupted = d.job(job["id"])
        assert interrupted["state"] == "interrupted"
        frames = d.client.get(f"/api/jobs/{job['id']}/frames").json()
        assert interrupted["frames_done"] == len(frames) >= 4
        assert [f["index"] for f in frames] == list(range(len(frames)))
        resumed = d.client.post(f"/api/jobs/{job['id']}/resume")
        assert resumed.status_code == 200 and resumed.json()["state"] == "queued"
        done = d.finished(job["id"])
        assert done["state"] == "done", done["error"]
        frames = d.client.get(f"/api/jobs/{job['id']}/frames").json()
        assert [f["index"] for f in frames] == list(range(12))
        assert [f["position"] for f in frames] == pytest.approx(
            [10 + 2 * i / 11 for i in range(12)]
        )
        # The same stack in one go gives the same picture (up to sensor noise).
        clean = d.client.post("/api/jobs", json={"plan": PLAN}).json()
        assert d.finished(clean["id"])["state"] == "done"
        a, b = (
            common_part(d.data / "jobs" / j, d.data / "jobs" / k)
            for j, k in ((job["id"], clean["id"]), (clean["id"], job["id"]))
        )
        assert psnr(a, b) > 28
    finally:
        d.stop()


@pytest.mark.slow
def test_sigterm_finishes_the_frame_interrupts_the_job_and_exits_cleanly(tmp_path):
    port = free_port()
    d = Daemon(tmp_path, port)
    job = d.client.post("/api/jobs", json={"plan": {**PLAN, "count": 60}}).json()
    d.until(lambda: d.job(job["id"])["frames_done"] >= 2)
    code, err = d.stop(signal.SIGTERM)
    assert code == 0, err
    assert "stopped: driver disabled, light off" in err
    assert "Traceback" not in err
    d = Daemon(tmp_path, port)
    try:
        after = d.job(job["id"])
        assert after["state"] == "interrupted"
        kept = d.client.get(f"/api/jobs/{job['id']}/frames").json()
        assert after["frames_done"] == len(kept)
    finally:
        d.stop()


@pytest.mark.slow
def test_the_rail_command_goes_through_a_running_daemon(tmp_path):
    port = free_port()
    config_file(tmp_path, f"\n[server]\nport = {port}\n")
    d = Daemon(tmp_path, port)
    try:
        proc = run_cli("rail", "home", "--sim", "--config", str(d.config))
        assert proc.returncode == 0, proc.stderr
        assert "homed; parked at" in proc.stdout and "via the daemon" in proc.stdout
        proc = run_cli("rail", "jog", "2.5", "--sim", "--config", str(d.config))
        assert proc.returncode == 0, proc.stderr
        assert d.client.get("/api/rail").json()["position_mm"] == pytest.approx(3.5, abs=0.02)
        job = d.client.post("/api/jobs", json={"plan": {**PLAN, "count": 40}}).json()
        d.until(lambda: d.job(job["id"])["frames_done"] >= 1)
        proc = run_cli("rail", "jog", "1", "--sim", "--config", str(d.config))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        assert "a stack is running" in proc.stderr
        d.client.delete(f"/api/jobs/{job['id']}")
    finally:
        d.stop()


@pytest.mark.slow
def test_trigger_from_a_shell_waits_for_the_result(tmp_path):
    d = Daemon(tmp_path, free_port())
    token = (d.data / "api-token").read_text().strip()
    url = f"http://127.0.0.1:{d.port}"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({**PLAN, "count": 4, "settle_s": 0}))
    try:
        proc = run_cli("trigger", "--url", url, "--token", token, "--plan", str(plan), "--wait")
        assert proc.returncode == 0, proc.stderr
        job_id, result_url = proc.stdout.split()
        assert result_url == f"{url}/api/jobs/{job_id}/result.jpg"
        assert "done: frame 4 of 4" in proc.stderr
        got = d.client.get(result_url)
        assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"
        bad = run_cli("trigger", "--url", url, "--token", "wrong", "--plan", str(plan))
        assert bad.returncode == 2 and "refused the token" in bad.stderr
        missing = run_cli("trigger", "--url", url, "--token", token, "--preset", "nope")
        assert missing.returncode == 2 and "no preset 'nope'" in missing.stderr
        plan.write_text("{not json")
        broken = run_cli("trigger", "--url", url, "--token", token, "--plan", str(plan))
        assert broken.returncode == 2 and "not valid JSON" in broken.stderr
    finally:
        d.stop()
    down = run_cli("trigger", "--url", url, "--token", token, "--preset", "x")
    assert down.returncode == 2 and "cannot reach the macrorig daemon" in down.stderr
    assert "Traceback" not in down.stderr


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rig", *argv], capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_no_auth_only_on_loopback(tmp_path):
    proc = run_cli(
        "serve", "--sim", "--config", str(config_file(tmp_path)), "--host", "0.0.0.0", "--no-auth"
    )
    assert proc.returncode == 2
    assert "--no-auth is only allowed when listening on loopback" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_second_daemon_on_the_same_rig_is_refused(tmp_path):
    d = Daemon(tmp_path, free_port())
    try:
        proc = run_cli("serve", "--sim", "--config", str(d.config), "--port", str(free_port()))
        assert proc.returncode == 2
        assert "another macrorig process is using this rig" in proc.stderr
    finally:
        d.stop()


@pytest.mark.slow
def test_a_bad_config_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[rail]\nmicrosteps = 0\n")
    proc = run_cli("serve", "--sim", "--config", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "rail.microsteps" in proc.stderr
