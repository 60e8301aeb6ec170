"""Clients that vanish mid-stream (a phone locking its screen, a dropped Wi-Fi link):
SSE and MJPEG streams end cleanly, leave nothing subscribed and disturb no stack.

A real uvicorn server on a loopback port, raw sockets that read part of a stream and
then drop the connection — what a TestClient cannot do."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from rig_support import Watcher, fast_config

from rig.plan import StackPlan
from rig.service import Rig
from web.app import create_app
from web.auth import Auth

pytestmark = pytest.mark.slow  # an end-to-end run of a script or daemon: seconds each

TOKEN = "disconnect-token"


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[Rig, uvicorn.Server, int]]:
    rig = Rig(fast_config(tmp_path), simulate=True)
    rig.open()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(rig, Auth(token=TOKEN)), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    until(lambda: server.started, "the server to start")
    yield rig, server, port
    server.should_exit = True
    thread.join(10)
    sock.close()
    rig.close()


def until(condition: Callable[[], object], what: str, timeout: float = 20) -> None:
    """Poll a condition that another thread or the event loop makes true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def own_threads() -> list[str]:
    """Live threads outside the server's worker pool, by kind (``Thread-3`` → ``Thread``:
    a timer replaced by the next one is not a leak)."""
    names = (t.name for t in threading.enumerate() if t.name != "AnyIO worker thread")
    return sorted(re.sub(r"-\d+", "", name) for name in names)


def open_stream(port: int, path: str, first: bytes) -> socket.socket:
    """Request ``path`` and read until ``first`` has arrived; the socket stays open."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: rig\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
    received = b""
    while first not in received:
        chunk = s.recv(65536)
        assert chunk, f"{path} closed before sending {first!r}: {received[:300]!r}"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    return s


def drop(s: socket.socket) -> None:
    """Vanish without a goodbye: a reset, as when a phone leaves Wi-Fi."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def test_clients_dropping_sse_and_mjpeg_mid_stack_leave_nothing_behind(served):
    rig, server, port = served
    watcher = Watcher(rig)
    threads = []
    for _ in range(2):
        job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=20, settle_s=0.2))
        watcher.frame(job.id, 1)  # events are flowing, so an SSE stream has something to send
        streams = []
        for _ in range(6):
            streams.append(open_stream(port, "/api/events", b"event:"))
            streams.append(open_stream(port, "/api/camera/preview.mjpg", b"image/jpeg"))
            streams.append(
                open_stream(port, "/api/camera/preview.mjpg?peaking=true", b"image/jpeg")
            )
        assert len(rig.bus._subscribers) == 6
        assert rig.store.job(job.id).state == "running", "the stack ended before the test"
        for s in streams:
            drop(s)

        done = watcher.job_state(job.id, "done", "failed", "cancelled")
        assert done["state"] == "done", done
        assert done["frames_done"] == 20
        # Every stream noticed its client left: no subscriber, no open connection.
        until(lambda: not rig.bus._subscribers, "SSE subscribers to be dropped")
        until(lambda: not server.server_state.connections, "connections to close")
        # The rail went through the plan once and back to the start, nothing more.
        assert rig.rail_status()["position_mm"] == pytest.approx(10, abs=0.01)
        threads.append(own_threads())
    # No stream left a thread of its own behind (the server's worker pool grows and
    # shrinks with demand by itself; everything else must be as it was).
    assert threads[1] == threads[0]
    # And the server still serves a new client.
    open_stream(port, "/api/camera/preview.mjpg", b"image/jpeg").close()
