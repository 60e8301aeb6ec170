"""Run a command as a child and measure its wall time and peak resident memory.

A child's peak RSS (``wait4``'s ``ru_maxrss``) is at least what its parent held when it
forked, however little the child then uses.  So the command is started by a tiny
launcher (a bare interpreter, a few MB) that forks and execs it and reports the
grandchild's own figures: the calling process may be as large as it likes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_LAUNCHER = """
import json, os, sys, time
started = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall": time.monotonic() - started, "maxrss_kb": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime,
               "code": os.waitstatus_to_exitcode(status)}, f)
"""


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float
    cpu_s: float  # user + system: less disturbed than wall time by others on the cores
    code: int
    stderr: str

    def check(self, what: str) -> Measured:
        if self.code != 0:
            tail = "\n".join(self.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"{what} failed (exit status {self.code}):\n{tail}")
        return self


def run_measured(cmd: list[str], cwd: Path | None = None) -> Measured:
    """Run ``cmd`` to its end; stdout is discarded, stderr kept for the error message."""
    with tempfile.TemporaryDirectory(prefix="macrorig-measure-") as tmp:
        out = Path(tmp) / "usage.json"
        proc = subprocess.run(
            [sys.executable, "-S", "-c", _LAUNCHER, str(out), *cmd],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            check=False,
        )
        if not out.exists():
            raise RuntimeError(f"could not run {cmd[0]}: {proc.stderr.strip()}")
        usage = json.loads(out.read_text())
    return Measured(
        usage["wall"], usage["maxrss_kb"] / 1024, usage["cpu"], usage["code"], proc.stderr
    )
