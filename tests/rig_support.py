"""Helpers for tests that run the rig on the simulated bench."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from rig.config import Config, load_config
from rig.events import Event
from rig.service import Rig

# A quick rail (2 mm lead, full steps, fast ramps) and a small camera keep tests short.
FAST_RIG = """
[rail]
steps_per_rev = 200
microsteps = 1
lead_mm = 2.0
max_speed_mm_s = 100.0
accel_mm_s2 = 5000.0
backlash_mm = 0.1
idle_disable_s = 0.5

[rail.homing]
fast_mm_s = 50.0
slow_mm_s = 5.0

[sim]
resolution = [320, 240]
preview_size = [160, 120]

[data]
dir = "{data}"
"""
# Starlette's TestClient sends ``Host: testserver``, a name the rig would refuse.
TESTCLIENT_HOST = """
[server]
hosts = ["testserver"]
"""


def fast_config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "rig.toml"
    # A caller's own [server] (a daemon's port) is for real HTTP, where Host is 127.0.0.1.
    server = "" if "[server]" in extra else TESTCLIENT_HOST
    path.write_text(FAST_RIG.format(data=tmp_path / "data") + server + extra)
    return load_config(path)


@contextlib.contextmanager
def running_rig(tmp_path: Path, extra: str = "") -> Iterator[Rig]:
    """A simulated rig on the fast config, open for the block and closed after it."""
    rig = Rig(fast_config(tmp_path, extra), simulate=True)
    rig.open()
    try:
        yield rig
    finally:
        rig.close()


def config_file(tmp_path: Path, extra: str = "") -> Path:
    fast_config(tmp_path, extra)
    return tmp_path / "rig.toml"


class Watcher:
    """Collects the rig's events; waits on them (no sleeping)."""

    def __init__(self, rig: Rig) -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        rig.bus.listen(self._on)

    def _on(self, event: Event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def mark(self) -> int:
        """A point in the event history: ``wait(..., after=mark)`` ignores what came before."""
        with self._cond:
            return len(self.events)

    def wait(self, predicate: Any, timeout: float = 60.0, after: int = 0) -> Event:
        """The first event (from ``after`` on, past or future) with ``predicate(event)``."""
        with self._cond:
            seen = after
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                if not self._cond.wait(timeout):
                    raise TimeoutError(
                        f"no matching event in {timeout} s; last: {self.events[-3:]}"
                    )

    def job_state(
        self, job_id: str, *states: str, timeout: float = 60.0, after: int = 0
    ) -> dict[str, Any]:
        event = self.wait(
            lambda e: (
                e.type == "job"
                and e.data["job"]["id"] == job_id
                and e.data["job"]["state"] in states
            ),
            timeout,
            after,
        )
        job: dict[str, Any] = event.data["job"]
        return job

    def frame(self, job_id: str, at_least: int, timeout: float = 60.0) -> Event:
        return self.wait(
            lambda e: (
                e.type == "frame" and e.data["job_id"] == job_id and e.data["frame"] >= at_least
            ),
            timeout,
        )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean(d * d)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class DaemonError(Exception):
    """The daemon did not start (the message ends with its log)."""


class DaemonProcess:
    """``macrorig serve --sim`` in a subprocess, for tests and the chaos and soak scripts.

    Its output goes to ``<data>/../daemon.log`` (a pipe nobody reads would block a
    long-running daemon); :attr:`http` is a client already carrying the API token."""

    def __init__(
        self,
        config: Path,
        data: Path,
        port: int,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.config, self.data, self.port = config, data, port
        self.args = args  # more options for ``macrorig serve`` (``--no-auth``)
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data.parent / "daemon.log"
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def start(self, timeout: float = 60) -> DaemonProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "rig", "serve", "--sim"),
                    *("--config", str(self.config), "--port", str(self.port)),
                    *self.args,
                ],
                env=self._env,
                stdout=log,
                stderr=log,
            )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.http.get("/api/status")
                break
            except httpx.TransportError:
                # Waiting on the process paces the loop and notices an early exit.
                try:
                    code = self.proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        raise DaemonError(f"no answer in {timeout:g} s: {self.log()}") from None
                    continue
                raise DaemonError(f"the daemon exited ({code}): {self.log()}") from None
        token = self._env.get("MACRORIG_TOKEN") or (self.data / "api-token").read_text().strip()
        self.http.headers["Authorization"] = f"Bearer {token}"
        return self

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body)

    def kill(self) -> None:
        """SIGKILL: a crash or a power cut."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the daemon and wait; its exit status (killed if it does not exit)."""
        self.http.close()
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self, tail: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-tail:]
