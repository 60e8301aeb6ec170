"""The health check on the command line: ``macrorig stack`` prints the verdict and
``--report`` holds the findings; ``macrorig trigger --wait`` prints the job's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rig_support import DaemonProcess, config_file, free_port


def cli(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rig", *argv], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
def test_stack_prints_the_health_and_reports_it(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    made = cli(
        *("sim", "render", str(frames), "--count", "15", "--size", "640x480"),
        *("--fault", "shake@9", "--seed", "1"),
    )
    assert made.returncode == 0, made.stderr
    report = tmp_path / "report.json"
    paths = sorted(str(p) for p in frames.glob("frame_*.jpg"))
    done = cli("stack", *paths, "-o", str(tmp_path / "out.jpg"), "--report", str(report))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "health: warnings (1 problem)", done.stdout
    assert "frame 9 is blurred everywhere" in lines[2]
    health = json.loads(report.read_text())["health"]
    assert [(f["kind"], f["frames"]) for f in health["findings"]] == [("vibration", [9])]


@pytest.mark.slow
def test_trigger_wait_prints_the_health(tmp_path: Path) -> None:
    daemon = DaemonProcess(config_file(tmp_path), tmp_path / "data", free_port())
    daemon.start()
    try:
        token = (tmp_path / "data" / "api-token").read_text().strip()
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"start_mm": 9.8, "end_mm": 12.2, "count": 8, "settle_s": 0}))
        done = cli("trigger", "--url", daemon.url, "--token", token, "--plan", str(plan), "--wait")
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.split()) == 2  # job id, result URL: unchanged for scripts
        assert "health: ok" in done.stderr.splitlines()[-1], done.stderr
    finally:
        daemon.stop()
