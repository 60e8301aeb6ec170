"""A short run of scripts/soak.py: scheduled stacks back to back leak nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # an end-to-end run of a script or daemon: seconds each

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_a_series_of_scheduled_stacks_leaks_no_memory_fd_thread_or_file():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--stacks", "30", "--warmup", "10", "--keep", "5"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "soak: passed" in proc.stdout
    assert "stacks: 30 done" in proc.stdout
    assert "deleted as it went: 25 jobs" in proc.stdout
