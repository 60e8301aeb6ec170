"""Is the runner stuck?  Every long operation says how long it should take at most.

The systemd watchdog pings only while :meth:`Heartbeat.healthy` is true, so a runner
wedged in a move or a capture gets the daemon restarted (leaving the motor disabled and
the LED off on the way) instead of hanging all night.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Heartbeat:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._what = ""
        self.stuck_reason: str | None = None  # set for good once a deadline is missed

    @contextmanager
    def expect(self, seconds: float, what: str) -> Iterator[None]:
        """The block should take at most ``seconds``."""
        with self._lock:
            previous = (self._deadline, self._what)
            self._deadline, self._what = self._clock() + seconds, what
        try:
            yield
        finally:
            with self._lock:
                self._deadline, self._what = previous

    def healthy(self) -> tuple[bool, str]:
        with self._lock:
            if (
                self.stuck_reason is None
                and self._deadline is not None
                and self._clock() > self._deadline
            ):
                self.stuck_reason = f"runner stuck: {self._what}"
            return self.stuck_reason is None, self.stuck_reason or "ok"
