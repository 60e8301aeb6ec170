"""scripts/probe.py against a real daemon: every hostile-client check holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # an end-to-end run of a script or daemon: seconds each

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "probe.py"


def test_the_hostile_client_probe_finds_nothing():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ", 0 failed" in proc.stdout
    for name in ("csrf_from_another_port", "host_rebinding", "ssrf_targets", "logout_across"):
        assert f"ok   {name}" in proc.stdout, proc.stdout
