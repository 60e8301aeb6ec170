"""When the stepper driver is enabled: to move, while held for a stack, until idle.

Holding torque keeps the carriage exactly where a stack left it between
frames, but heats the motor; so the driver is enabled for moves, kept enabled
inside :meth:`DriverPower.hold` and disabled ``idle_s`` after the last use by a
timer thread.  An error inside a hold releases the motor at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    daemon: bool

    def start(self) -> None: ...

    def cancel(self) -> None: ...


TimerFactory = Callable[[float, Callable[[], None]], Timer]


class DriverPower:
    """The ENABLE line and its policy; every method expects ``lock`` (shared with the rail).

    :param enable: gpiozero output device wired to ENABLE (``on()`` = driver enabled).
    :param settle_ns: wait after enabling before the first STEP.
    :param idle_s: disable this long after the last use (0: at once).
    :param busy: whether a move is running (the timer then leaves the driver alone).
    :param on_release: called after the driver was disabled (the rail checks its position).
    """

    def __init__(
        self,
        enable: Any,
        *,
        lock: threading.RLock,
        settle_ns: int,
        idle_s: float,
        busy: Callable[[], bool],
        on_release: Callable[[], None],
        timer_factory: TimerFactory = threading.Timer,
    ) -> None:
        self._enable = enable
        self._lock = lock
        self._settle_ns = settle_ns
        self._idle_s = idle_s
        self._busy = busy
        self._on_release = on_release
        self._timer_factory = timer_factory
        self._timer: Timer | None = None
        self.enabled = False
        self.holds = 0
        self.closed = False

    def engage(self) -> None:
        """Enable now (for a move), cancelling any pending idle disable."""
        with self._lock:
            self._cancel_timer()
            if not self.enabled:
                self._enable.on()
                self.enabled = True
                time.sleep(self._settle_ns / 1e9)

    def release(self) -> None:
        """Disable now."""
        with self._lock:
            self._cancel_timer()
            if self.closed and not self.enabled:
                return  # already released for good (the ENABLE device may be closed)
            was_enabled = self.enabled
            self._enable.off()
            self.enabled = False
            if was_enabled:
                self._on_release()

    def idle(self) -> None:
        """Nothing more to do for now: disable after the idle time unless held."""
        with self._lock:
            self._cancel_timer()
            if not self.enabled or self.holds or self.closed:
                return
            if self._idle_s == 0:
                self.release()
                return
            timer = self._timer_factory(self._idle_s, lambda: self._timeout(timer))
            timer.daemon = True
            self._timer = timer
            timer.start()

    def hold(self) -> None:
        with self._lock:
            self.holds += 1
            self.engage()

    def unhold(self, *, failed: bool) -> None:
        with self._lock:
            self.holds -= 1
            if self.holds == 0:
                if failed:
                    self.release()
                else:
                    self.idle()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self.release()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self, timer: Timer) -> None:
        with self._lock:
            if self._timer is not timer or self.holds or self._busy():
                return  # superseded, held, or a running move re-arms it when done
            self._timer = None
            self.release()
