"""Tell a script when its job ends: a JSON POST to the job's ``callback_url``.

A job's final event puts its callback in the store (an outbox), so a callback survives a
restart — also a kill -9: the job found interrupted at the next start sends its own.
One thread runs an asyncio loop that delivers every due callback concurrently, at most
one at a time per receiver (host and port), so a slow or dead receiver holds up only its
own callbacks.  Each attempt has an overall deadline — not a per-read timeout, which a
receiver trickling a byte every few seconds would never reach — and a failed attempt
(no answer in time, no connection, a 5xx) is tried again after a growing pause kept in
the store.  An answer below 500 ends it: the receiver has heard.  The body is the job as
its final event showed it (:class:`~rig.jobs.view.JobView`) plus its ``url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from rig import net_guard
from rig.events import Event, EventBus
from rig.net_guard import AddressPolicy
from rig.store import PendingCallback, Store

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(
        self,
        bus: EventBus,
        store: Store,
        *,
        attempts: int = 5,
        first_pause_s: float = 2.0,
        deadline_s: float = 15.0,
        job_url: str = "/api/jobs/{id}",
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: AddressPolicy | None = None,
    ) -> None:
        self.store = store
        self.attempts = attempts
        self.first_pause_s = first_pause_s
        self.deadline_s = deadline_s
        self.job_url = job_url
        self._clock = clock
        self._transport = transport
        self.policy = policy or AddressPolicy()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="callbacks", daemon=True)
        bus.listen(self._on_event)

    # -- control (any thread) --------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop now; a callback not yet delivered stays in the store for the next start."""
        self._stop.set()
        self.wake()
        if self._thread.ident is not None:
            self._thread.join(5)

    def wake(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just ended
                loop.call_soon_threadsafe(wake.set)

    def deliver_due(self, now: float | None = None) -> None:
        """Try every callback due at ``now`` (default: the clock's now) concurrently and
        return when each attempt has ended — what the thread does, for a test's clock."""
        asyncio.run(self._deliver_due(self._clock() if now is None else now))

    # -- the outbox --------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if event.type != "job" or not event.data["job"]["final"]:
            return
        job = event.data["job"]
        try:
            url = self.store.job(job["id"]).callback_url
            if url:
                payload = {**job, "url": self.job_url.format(id=job["id"])}
                self.store.add_callback(job["id"], url, payload, self._clock())
        except Exception:  # the job's end must not fail because its callback cannot be kept
            log.exception("callback for job %s could not be queued", job["id"])
            return
        self.wake()

    # -- delivery ----------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        busy: set[str] = set()  # receivers with an attempt under way
        running: set[asyncio.Task[None]] = set()
        async with self._client() as client:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    due = self.store.due_callbacks(self._clock())
                except Exception:  # the store failed: try again later, not in a loop
                    log.exception("callbacks cannot be read")
                    due = []
                for callback in due:
                    target = _receiver(callback.url)
                    if target in busy:
                        continue
                    busy.add(target)
                    task = asyncio.create_task(self._attempt(client, callback))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(functools.partial(self._done, target, busy))
                await self._sleep()
            for task in running:
                task.cancel()

    def _done(self, target: str, busy: set[str], _: asyncio.Task[None]) -> None:
        busy.discard(target)
        assert self._wake is not None
        self._wake.set()  # that receiver's next callback may be due

    async def _sleep(self) -> None:
        assert self._wake is not None
        try:
            upcoming = self.store.next_callback_at()
        except Exception:
            upcoming = None
        pause = 30.0 if upcoming is None else min(30.0, max(0.05, upcoming - self._clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), pause)

    async def _deliver_due(self, now: float) -> None:
        by_receiver: dict[str, list[PendingCallback]] = {}
        for callback in self.store.due_callbacks(now):
            by_receiver.setdefault(_receiver(callback.url), []).append(callback)
        async with self._client() as client:

            async def one_receiver(callbacks: list[PendingCallback]) -> None:
                for callback in callbacks:
                    await self._attempt(client, callback)

            await asyncio.gather(*(one_receiver(c) for c in by_receiver.values()))

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            timeout=httpx.Timeout(self.deadline_s),  # a backstop; the deadline is below
            trust_env=False,  # a proxy from the environment would connect elsewhere than vetted
            follow_redirects=False,  # a redirect would take the callback where no one vetted
        )

    async def _attempt(self, client: httpx.AsyncClient, callback: PendingCallback) -> None:
        """One POST, within the deadline; its outcome goes to the store."""
        status: int | None = None
        try:
            # Vetted at every attempt (the name may resolve elsewhere by now), and the
            # request goes to the very address vetted.
            target = net_guard.vet_url(callback.url, self.policy)
        except Exception as exc:
            self._record(callback, None, f"refused: {exc}", retry=False)
            return
        try:
            async with asyncio.timeout(self.deadline_s):
                response = await self._post(client, target, callback.payload)
            status = response.status_code
            error = None if status < 500 else f"HTTP {status}"
        except TimeoutError:
            error = f"no complete answer within {self.deadline_s:g} s"
        except httpx.HTTPError as exc:
            error = str(exc) or type(exc).__name__
        self._record(callback, status, error, retry=True)

    @staticmethod
    async def _post(
        client: httpx.AsyncClient, target: net_guard.Target, payload: dict[str, Any]
    ) -> httpx.Response:
        """POST to the first of the name's addresses that takes the connection: a
        receiver named by IPv6 and IPv4 addresses is still reached from a rig without an
        IPv6 route.  Only a refused or unreachable connection moves on (nothing was sent)."""
        *others, last = target.addresses
        for address in others:
            try:
                return await client.post(json=payload, **target.request_options(address))
            except httpx.ConnectError as exc:
                log.info("callback to %s: %s unreachable (%s)", target.host, address, exc)
        return await client.post(json=payload, **target.request_options(last))

    def _record(
        self, callback: PendingCallback, status: int | None, error: str | None, *, retry: bool
    ) -> None:
        attempt = callback.attempts + 1
        now = self._clock()
        retry_at = None
        if error is not None and retry and attempt < self.attempts:
            retry_at = now + self.first_pause_s * 2 ** (attempt - 1)
        try:
            self.store.callback_tried(
                callback.id, now=now, status=status, error=error, retry_at=retry_at
            )
        except Exception:
            log.exception("callback %d: its outcome could not be saved", callback.id)
        if error is None:
            log.info("callback for job %s delivered (HTTP %s)", callback.job_id, status)
        elif retry_at is not None:
            log.warning(
                "callback for job %s, attempt %d/%d failed: %s",
                callback.job_id,
                attempt,
                self.attempts,
                error,
            )
        else:
            log.error(
                "callback for job %s to %s given up: %s", callback.job_id, callback.url, error
            )

    def delivered(self, job_id: str) -> list[dict[str, Any]]:
        """A job's callbacks and how they went."""
        return self.store.callbacks(job_id)


def _receiver(url: str) -> str:
    """Callbacks to one receiver go one at a time (host and port)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
