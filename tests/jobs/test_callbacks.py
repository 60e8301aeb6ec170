"""Webhooks that do not wait on a slow receiver: an overall deadline per attempt,
receivers served side by side, retries kept in the store across a restart, and the
callback of a job a kill -9 interrupted sent at the next start."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rig_support import running_rig

from rig.events import EventBus
from rig.jobs.callbacks import CallbackSender
from rig.net_guard import AddressPolicy
from rig.plan import StackPlan
from rig.store import Store

WAIT_S = 60.0  # only reached when something is broken
# The test receivers listen on this machine, which the rig refuses unless allowed.
LOCAL = AddressPolicy.of(["127.0.0.1"])
ALLOW_LOCAL = '[callbacks]\nallow = ["127.0.0.1"]\n'


class Receiver:
    """A local HTTP server; ``behaviour(handler)`` answers each POST."""

    def __init__(self, behaviour) -> None:  # type: ignore[no-untyped-def]
        self.received: list[dict] = []
        self.arrived = threading.Event()
        self.release = threading.Event()  # ends a trickle
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                behaviour(receiver, self, body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def answer(status: int):  # type: ignore[no-untyped-def]
    def behave(receiver: Receiver, handler: BaseHTTPRequestHandler, body: dict) -> None:
        if status < 500:  # recorded before the answer: the sender may look right after it
            receiver.received.append(body)
            receiver.arrived.set()
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


def trickle(receiver: Receiver, handler: BaseHTTPRequestHandler, body: dict) -> None:
    """One byte of the answer at a time, every 0.2 s, until released."""
    handler.wfile.write(b"H")
    handler.wfile.flush()
    while not receiver.release.wait(0.2):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:  # the sender gave up on us
            return
    receiver.received.append(body)  # before the answer, as in answer()
    receiver.arrived.set()
    handler.wfile.write(b"TTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def receiver(receivers: list[Receiver], behaviour) -> Receiver:  # type: ignore[no-untyped-def]
    r = Receiver(behaviour)
    receivers.append(r)
    return r


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    s = Store(tmp_path / "macrorig.db")
    yield s
    s.close()


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow
def test_a_trickling_receiver_is_cut_off_at_the_deadline(store, receivers):
    slow = receiver(receivers, trickle)
    clock = Clock()
    sender = CallbackSender(
        EventBus(), store, policy=LOCAL, deadline_s=1.0, first_pause_s=2.0, clock=clock
    )
    store.add_callback("job-1", slow.url, {"id": "job-1"}, clock.now)
    sender.deliver_due()  # without an overall deadline this would never return
    [record] = store.callbacks("job-1")
    assert record["attempts"] == 1 and record["delivered"] is None
    assert "no complete answer within 1 s" in record["last_error"]
    assert record["next_at"] == 1002.0  # tried again after the first pause


@pytest.mark.slow
def test_a_slow_receiver_does_not_hold_up_another(store, receivers):
    """The slow receiver only finishes its answer once the other has its callback: sent
    one after the other, the other's would wait behind the trickle."""
    fast = receiver(receivers, answer(204))

    def slow_until_fast(r: Receiver, handler: BaseHTTPRequestHandler, body: dict) -> None:
        if fast.arrived.wait(WAIT_S):
            r.release.set()
        trickle(r, handler, body)

    slow = receiver(receivers, slow_until_fast)
    sender = CallbackSender(EventBus(), store, policy=LOCAL, deadline_s=WAIT_S)
    store.add_callback("slow", slow.url, {"id": "slow"}, 0.0)  # first in line
    store.add_callback("fast", fast.url, {"id": "fast"}, 0.0)
    sender.start()
    try:
        sender.wake()
        assert fast.arrived.wait(WAIT_S)  # while the slow one still trickles
        assert slow.arrived.wait(WAIT_S)
    finally:
        sender.stop()


@pytest.mark.slow
def test_retries_are_kept_in_the_store_across_a_restart(tmp_path, receivers):
    with socket.socket() as s:  # a port nobody listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    clock = Clock(1000.0)
    store = Store(tmp_path / "macrorig.db")
    sender = CallbackSender(
        EventBus(), store, policy=LOCAL, first_pause_s=2.0, attempts=3, clock=clock
    )
    store.add_callback("job-1", refused, {"id": "job-1"}, clock.now)
    sender.deliver_due()
    assert store.callbacks("job-1")[0]["next_at"] == 1002.0
    store.close()  # the daemon stops (or is killed)

    good = receiver(receivers, answer(204))
    store = Store(tmp_path / "macrorig.db")
    with sqlite3.connect(tmp_path / "macrorig.db") as db:  # the receiver moved meanwhile
        db.execute("UPDATE callbacks SET url = ?", (good.url,))
    sender = CallbackSender(
        EventBus(), store, policy=LOCAL, first_pause_s=2.0, attempts=3, clock=clock
    )
    clock.now = 1001.0
    sender.deliver_due()
    assert not good.received  # not due yet
    clock.now = 1002.0
    sender.deliver_due()
    assert good.received == [{"id": "job-1"}]
    record = store.callbacks("job-1")[0]
    assert record["attempts"] == 2 and record["delivered"] == 1002.0
    store.close()


@pytest.mark.slow
def test_a_callback_is_given_up_after_its_attempts(store, receivers):
    failing = receiver(receivers, answer(503))
    clock = Clock(0.0)
    sender = CallbackSender(
        EventBus(), store, policy=LOCAL, first_pause_s=1.0, attempts=3, clock=clock
    )
    store.add_callback("job-1", failing.url, {"id": "job-1"}, 0.0)
    for now in (0.0, 1.0, 3.0, 100.0):
        clock.now = now
        sender.deliver_due()
    record = store.callbacks("job-1")[0]
    assert record["attempts"] == 3 and record["given_up"] == 3.0
    assert record["last_error"] == "HTTP 503"


@pytest.mark.slow
def test_a_refused_address_is_given_up_before_anything_is_sent(store, receivers):
    target = receiver(receivers, answer(204))

    sender = CallbackSender(EventBus(), store, clock=Clock(0.0))  # loopback not allowed
    store.add_callback("job-1", target.url, {"id": "job-1"}, 0.0)
    sender.deliver_due()
    record = store.callbacks("job-1")[0]
    assert record["given_up"] == 0.0 and "a loopback address" in record["last_error"]
    assert not target.received


@pytest.mark.slow
def test_a_job_interrupted_by_a_kill_sends_its_callback_at_the_next_start(tmp_path, receivers):
    hook = receiver(receivers, answer(204))
    with running_rig(tmp_path, ALLOW_LOCAL) as rig:
        rig.runner.shutdown()  # keeps the job queued: the test plays the kill itself
        job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=3), callback_url=hook.url)
    with sqlite3.connect(tmp_path / "data" / "macrorig.db") as db:  # as kill -9 leaves it
        db.execute("UPDATE jobs SET state = 'running' WHERE id = ?", (job.id,))
    with running_rig(tmp_path, ALLOW_LOCAL):
        assert hook.arrived.wait(WAIT_S)
    assert hook.received[0]["id"] == job.id and hook.received[0]["state"] == "interrupted"


def test_a_name_with_an_unreachable_first_address_is_reached_on_the_next(store, receivers):
    """A receiver named by two addresses (say IPv6 then IPv4, on a rig without an IPv6
    route): the first refuses the connection, the callback goes to the second."""
    good = receiver(receivers, answer(204))
    port = good.server.server_address[1]  # nothing listens on 127.0.0.2 at this port
    tried: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        tried.append(host)
        return ["127.0.0.2", "127.0.0.1"]

    policy = AddressPolicy.of(["127.0.0.0/8"], resolve=resolve)
    sender = CallbackSender(EventBus(), store, policy=policy, deadline_s=WAIT_S)
    store.add_callback("job-1", f"http://hooks.lab:{port}/hook", {"id": "job-1"}, 0.0)
    sender.deliver_due(now=0.0)
    assert good.received == [{"id": "job-1"}]
    record = store.callbacks("job-1")[0]
    assert record["attempts"] == 1 and record["last_status"] == 204 and tried == ["hooks.lab"]
