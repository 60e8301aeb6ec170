"""Tell a script when its job ends: a JSON POST to the job's ``callback_url``.

Delivered from a thread of its own with retries and growing pauses, so a slow or dead
receiver never holds up the runner.  The body is the job as its final event showed it
(:class:`~rig.jobs.view.JobView`) plus its ``url``.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import httpx

from rig import net_guard
from rig.events import Event, EventBus
from rig.net_guard import AddressPolicy, UnsafeTarget
from rig.store import Store

log = logging.getLogger(__name__)

_STOP = object()


class CallbackSender:
    def __init__(
        self,
        bus: EventBus,
        store: Store,
        *,
        attempts: int = 5,
        first_pause_s: float = 2.0,
        timeout_s: float = 10.0,
        job_url: str = "/api/jobs/{id}",
        policy: AddressPolicy | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or AddressPolicy()
        self.attempts = attempts
        self.first_pause_s = first_pause_s
        self.timeout_s = timeout_s
        self.job_url = job_url
        self._queue: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self.delivered: list[tuple[str, int]] = []  # (job id, HTTP status), for status pages
        self._thread = threading.Thread(target=self._run, name="callbacks", daemon=True)
        bus.listen(self._on_event)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(_STOP)
        self._thread.join(5)

    def _on_event(self, event: Event) -> None:
        if event.type != "job":
            return
        job = event.data["job"]
        if job["final"]:
            self._queue.put(job)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, dict)
            try:
                callback_url = self.store.job(item["id"]).callback_url
            except LookupError:
                continue
            if callback_url:
                self._deliver(callback_url, {**item, "url": self.job_url.format(id=item["id"])})

    def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        pause = self.first_pause_s
        for attempt in range(1, self.attempts + 1):
            try:
                # Vetted again at every attempt: the name may resolve elsewhere by now.
                target = net_guard.vet_url(url, self.policy)
            except UnsafeTarget as exc:
                log.error("callback for job %s not sent: %s", payload["id"], exc)
                return
            try:
                with net_guard.client(timeout=self.timeout_s) as client:
                    response = client.post(json=payload, **target.request_options())
                if response.status_code < 500:
                    self.delivered.append((payload["id"], response.status_code))
                    return
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                reason = str(exc) or type(exc).__name__
            log.warning(
                "callback for job %s, attempt %d/%d failed: %s",
                payload["id"],
                attempt,
                self.attempts,
                reason,
            )
            if self._stop.wait(pause):
                return
            pause *= 2
        log.error("callback for job %s to %s given up", payload["id"], url)
