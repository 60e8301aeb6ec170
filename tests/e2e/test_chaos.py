"""A short run of scripts/chaos.py: SIGKILL the daemon at chosen moments, lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # an end-to-end run of a script or daemon: seconds each

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def test_killing_the_daemon_loses_no_frame_and_no_job():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", "6", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "chaos: passed" in proc.stdout
    frames = int(proc.stdout.split("frames checked: ")[1].split()[0])
    assert frames > 0
    assert "restarts checked: motor disabled and light off" in proc.stdout
