"""A fake ``lgpio``: records calls and plays queued ``tx_pulse`` trains in real time.

Only what the rail's lgpio back-end uses.  Module-level state, like the real
module; call :func:`reset` between tests.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

TX_PWM = 0
TX_WAVE = 1
QUEUE_DEPTH = 8  # small, so the back-end must respect tx_room
# Pulses play this many times slower than asked, so a busy test machine does not
# starve the queue (underruns are tested on purpose, by blocking the feeder).
TIME_SCALE = 4


class error(Exception):
    pass


@dataclass
class Pulse:
    gpio: int
    on_us: int
    off_us: int
    offset: int
    cycles: int
    start: float
    end: float


_lock = threading.Lock()
calls: list[tuple] = []
writes: list[tuple[float, int, int]] = []  # (monotonic time, gpio, level)
pulses: list[Pulse] = []  # everything ever queued (cancelled ones included)
cancels: list[tuple[float, int]] = []
claimed: dict[int, set[int]] = {}
_queue: dict[int, list[Pulse]] = {}
_next_handle = 0
# Called (outside the lock) after each queued tx_pulse, with the Pulse: lets a test
# act at a precise point of a move without sleeping.
on_tx_pulse: list = []


def reset() -> None:
    global _next_handle
    on_tx_pulse.clear()
    with _lock:
        calls.clear()
        writes.clear()
        pulses.clear()
        cancels.clear()
        claimed.clear()
        _queue.clear()
        _next_handle = 0


def drain() -> None:
    """Play out everything queued at once, as if the feeder had been away a long time."""
    with _lock:
        now = time.monotonic()
        for queue in _queue.values():
            for pulse in queue:
                pulse.end = min(pulse.end, now)


def gpiochip_open(chip: int) -> int:
    global _next_handle
    with _lock:
        calls.append(("gpiochip_open", chip))
        handle = _next_handle
        _next_handle += 1
        claimed[handle] = set()
        return handle


def gpiochip_close(handle: int) -> int:
    with _lock:
        calls.append(("gpiochip_close", handle))
        claimed.pop(handle, None)
        return 0


def gpio_claim_output(handle: int, gpio: int, level: int = 0, lFlags: int = 0) -> int:
    with _lock:
        calls.append(("gpio_claim_output", handle, gpio, level))
        if handle not in claimed:
            raise error("bad handle")
        claimed[handle].add(gpio)
        writes.append((time.monotonic(), gpio, level))
        return 0


def gpio_free(handle: int, gpio: int) -> int:
    with _lock:
        calls.append(("gpio_free", handle, gpio))
        claimed.get(handle, set()).discard(gpio)
        return 0


def gpio_write(handle: int, gpio: int, level: int) -> int:
    with _lock:
        calls.append(("gpio_write", handle, gpio, level))
        _require(handle, gpio)
        writes.append((time.monotonic(), gpio, level))
        return 0


def tx_pulse(
    handle: int,
    gpio: int,
    pulse_on: int,
    pulse_off: int,
    pulse_offset: int = 0,
    pulse_cycles: int = 0,
) -> int:
    with _lock:
        calls.append(("tx_pulse", handle, gpio, pulse_on, pulse_off, pulse_offset, pulse_cycles))
        _require(handle, gpio)
        now = time.monotonic()
        queue = [p for p in _queue.get(gpio, []) if p.end > now]
        if pulse_on == 0 and pulse_off == 0:
            cancels.append((now, gpio))
            _queue[gpio] = []
            return QUEUE_DEPTH
        if len(queue) >= QUEUE_DEPTH:
            raise error("tx queue full")
        start = queue[-1].end if queue else now
        pulse = Pulse(gpio, pulse_on, pulse_off, pulse_offset, pulse_cycles, start, 0.0)
        pulse.end = start + TIME_SCALE * pulse_cycles * (pulse_on + pulse_off) / 1e6
        queue.append(pulse)
        pulses.append(pulse)
        _queue[gpio] = queue
        room = QUEUE_DEPTH - len(queue)
    for hook in list(on_tx_pulse):
        hook(pulse)
    return room


def tx_room(handle: int, gpio: int, kind: int) -> int:
    with _lock:
        _require(handle, gpio)
        now = time.monotonic()
        return QUEUE_DEPTH - sum(1 for p in _queue.get(gpio, []) if p.end > now)


def tx_busy(handle: int, gpio: int, kind: int) -> int:
    with _lock:
        _require(handle, gpio)
        now = time.monotonic()
        return int(any(p.end > now for p in _queue.get(gpio, [])))


def _require(handle: int, gpio: int) -> None:
    if gpio not in claimed.get(handle, set()):
        raise error(f"GPIO {gpio} not claimed as output on handle {handle}")
