"""``macrorig serve`` on a port already taken: it binds before it says it is ready, so it
neither logs "ready" nor sends READY=1; it exits 2 with one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from rig_support import config_file


@pytest.mark.slow
def test_a_busy_port_is_refused_before_ready(tmp_path):
    config = config_file(tmp_path)
    with tempfile.TemporaryDirectory(prefix="nfy") as short:  # AF_UNIX paths are short
        notify = Path(short) / "notify"
        systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        systemd.bind(str(notify))
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        try:
            proc = subprocess.run(
                [
                    *(sys.executable, "-m", "rig", "serve", "--sim"),
                    *("--config", str(config), "--port", str(port)),
                ],
                env={**os.environ, "NOTIFY_SOCKET": str(notify)},
                capture_output=True,
                text=True,
                timeout=120,
            )
            systemd.setblocking(False)
            received = []
            try:
                while True:
                    received.append(systemd.recv(4096).decode())
            except BlockingIOError:
                pass
        finally:
            busy.close()
            systemd.close()
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "ready" not in proc.stderr.lower().replace("already", "")
    assert "Traceback" not in proc.stderr
    assert not any("READY=1" in m for m in received), received
