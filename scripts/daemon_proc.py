"""A ``macrorig serve --sim`` daemon in a subprocess, for the chaos and soak scripts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


class Violation(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Daemon:
    def __init__(
        self, config: Path, data: Path, port: int, env: dict[str, str] | None = None
    ) -> None:
        self.data = data
        # The log goes to a file: a pipe nobody reads would block a long-running daemon.
        self.log = data.parent / "daemon.log"
        self._log_file = self.log.open("a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rig",
                "serve",
                "--sim",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env={**os.environ, **(env or {})},
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise Violation(f"the daemon did not start: {self.log.read_text()[-2000:]}")
            try:
                self.http.get("/api/status")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise Violation("the daemon did not answer within 60 s") from None
                time.sleep(0.02)
        self.http.headers["Authorization"] = "Bearer " + (data / "api-token").read_text().strip()

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.http.close()
        self._log_file.close()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.http.close()
        self._log_file.close()
        return code
