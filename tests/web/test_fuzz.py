"""Generated requests against the whole API: no 5xx, no hang (a quick pass of
scripts/fuzz_api.py; the script's default run sends over ten thousand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # an end-to-end run of a script or daemon: seconds each

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_api.py"


def test_generated_requests_never_get_a_server_error():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--examples", "6"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5xx: 0;" in proc.stdout and "hangs (> 10 s): 0" in proc.stdout
    total = int(proc.stdout.split(" requests")[0].split()[-1])
    assert total >= 150
