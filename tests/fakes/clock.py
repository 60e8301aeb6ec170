"""A virtual clock: time moves only when someone sleeps or waits.

Hand the same instance to a back-end (``clock=``) and to the fake ``lgpio``
(``lgpio.clock``): the queue then plays in virtual time, and a test's outcome no
longer depends on how busy the machine is.
"""

from __future__ import annotations

import threading


class VirtualClock:
    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._now

    def advance_ns(self, ns: int) -> None:
        with self._lock:
            self._now += max(0, int(ns))

    def sleep(self, seconds: float) -> None:
        self.advance_ns(round(seconds * 1e9))

    def wait_until(self, deadline_ns: int) -> None:
        with self._lock:
            self._now = max(self._now, deadline_ns)
