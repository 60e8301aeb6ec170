"""Helpers for tests that run the rig on the simulated bench."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

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


def fast_config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "rig.toml"
    path.write_text(FAST_RIG.format(data=tmp_path / "data") + extra)
    return load_config(path)


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
