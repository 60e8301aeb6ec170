"""Events for the web layer: every job state change and frame, rig moves, errors.

Publishers are plain threads (the runner, the stacker worker); subscribers are asyncio
tasks (Server-Sent Events streams).  Each event gets an increasing id, and the last few
hundred are kept so a client that reconnects with ``Last-Event-ID`` misses nothing.
A slow subscriber loses its oldest events rather than slowing the rig down.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

HISTORY = 500
QUEUE_SIZE = 200


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "time": self.time, **self.data}


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, event: Event) -> None:
        """Runs in the subscriber's loop."""
        if self.queue.full():
            self.queue.get_nowait()  # drop the oldest: never block the rig
        self.queue.put_nowait(event)


class EventBus:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[_Subscriber] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def publish(self, type: str, **data: Any) -> Event:
        """Thread-safe; never blocks."""
        with self._lock:
            event = Event(next(self._ids), type, data)
            self._history.append(event)
            subscribers = list(self._subscribers)
            listeners = list(self._listeners)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop has closed
                self._drop(sub)
        for listener in listeners:
            listener(event)
        return event

    def listen(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` synchronously for every event (keep it quick)."""
        with self._lock:
            self._listeners.append(callback)

    def history(self, after: int = 0) -> list[Event]:
        with self._lock:
            return [e for e in self._history if e.id > after]

    def _drop(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    async def subscribe(self, after: int | None = None) -> AsyncIterator[Event]:
        """Events from now on (and those after id ``after`` still in the history)."""
        sub = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            backlog = [e for e in self._history if after is not None and e.id > after]
            self._subscribers.add(sub)
        try:
            for event in backlog:
                yield event
            last = backlog[-1].id if backlog else 0
            while True:
                event = await sub.queue.get()
                if event.id > last:
                    yield event
        finally:
            self._drop(sub)
