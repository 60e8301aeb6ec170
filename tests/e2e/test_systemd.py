"""rig.systemd against a real AF_UNIX datagram socket standing in for systemd.

Synchronisation is on received datagrams (blocking receives with a timeout),
never on sleeps.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading

import pytest

from rig.systemd import (
    JournalFormatter,
    Notifier,
    Watchdog,
    journal_logging,
    logs_to_journal,
    syslog_priority,
)

RECEIVE_TIMEOUT_S = 10.0  # only reached when something is broken


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(RECEIVE_TIMEOUT_S)

    def receive(self) -> str:
        """The next datagram, waiting for it (a timeout fails the test)."""
        return self.sock.recv(4096).decode()

    def pending(self) -> list[str]:
        """Whatever has already arrived, without waiting."""
        received = []
        self.sock.setblocking(False)
        try:
            while True:
                received.append(self.sock.recv(4096).decode())
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(RECEIVE_TIMEOUT_S)
        return received

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_path(tmp_path):
    # AF_UNIX paths are limited to ~107 bytes; pytest's tmp_path can be long.
    path = tmp_path / "notify"
    if len(str(path)) > 100:
        pytest.fail(f"tmp_path too long for an AF_UNIX socket: {path}")
    return str(path)


@pytest.fixture
def systemd(notify_path, monkeypatch):
    fake = FakeSystemd(notify_path)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_path)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield fake
    fake.close()


def test_ready_status_stopping_are_exact_datagrams(systemd):
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready()
    assert systemd.receive() == "READY=1"
    assert notifier.status("homing the rail")
    assert systemd.receive() == "STATUS=homing the rail"
    assert notifier.ready(status="idle at 11.000 mm")
    assert systemd.receive() == "READY=1\nSTATUS=idle at 11.000 mm"
    assert notifier.status("two\nlines")  # a newline would start a new assignment
    assert systemd.receive() == "STATUS=two lines"
    assert notifier.watchdog()
    assert systemd.receive() == "WATCHDOG=1"
    assert notifier.stopping()
    assert systemd.receive() == "STOPPING=1"
    assert notifier.notify(RELOADING=1, MONOTONIC_USEC=42)
    assert systemd.receive() == "RELOADING=1\nMONOTONIC_USEC=42"
    assert systemd.pending() == []
    with pytest.raises(ValueError, match="notify field name"):
        notifier.notify(ready=1)
    notifier.close()


def test_abstract_socket(monkeypatch):
    name = f"macrorig-test-{os.getpid()}-{threading.get_ident()}"
    fake = FakeSystemd("\0" + name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        notifier = Notifier()
        assert notifier.ready()
        assert fake.receive() == "READY=1"
        assert notifier.stopping()
        assert fake.receive() == "STOPPING=1"
    finally:
        fake.close()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    assert notifier.ready() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False
    watchdog = Watchdog(notifier, lambda: (True, "ok"))
    watchdog.start()
    assert not watchdog.running
    watchdog.stop()
    # An explicit environment mapping works the same as os.environ.
    assert Notifier({}).enabled is False
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled is False


def test_a_send_failure_never_raises(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    notifier = Notifier()
    with caplog.at_level(logging.DEBUG, logger="rig.systemd"):
        assert notifier.ready() is False
        assert notifier.watchdog() is False
    messages = [r for r in caplog.records if r.name == "rig.systemd"]
    assert messages and all(r.levelno == logging.DEBUG for r in messages)
    assert "READY=1" in messages[0].getMessage()


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),  # WatchdogSec=30 → ping every 15 s
        ({"WATCHDOG_USEC": "100000"}, 0.05),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "self"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for PID 1
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(notify_path, environ, interval):
    env = {"NOTIFY_SOCKET": notify_path, **environ}
    if env.get("WATCHDOG_PID") == "self":
        env["WATCHDOG_PID"] = str(os.getpid())
    assert Notifier(env).watchdog_interval_s == interval


def test_watchdog_pings_while_healthy_then_stops_for_good(systemd, monkeypatch, caplog):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 100 ms: a ping every 50 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier()
    assert notifier.watchdog_interval_s == pytest.approx(0.05)
    calls = []

    def health():
        calls.append(threading.current_thread().name)
        if len(calls) <= 3:
            return True, "ok"
        return False, "camera: no frame for 20 s"

    watchdog = Watchdog(notifier, health)
    with caplog.at_level(logging.WARNING, logger="rig.systemd"):
        watchdog.start()
        assert watchdog.interval_s == pytest.approx(0.05)
        received = [systemd.receive() for _ in range(4)]
        watchdog.stop()
    assert received == ["WATCHDOG=1"] * 3 + ["STATUS=unhealthy: camera: no frame for 20 s"]
    assert systemd.pending() == []  # nothing after the unhealthy answer
    assert not watchdog.running
    assert watchdog.pings == 3
    assert watchdog.unhealthy_reason == "camera: no frame for 20 s"
    assert len(calls) == 4 and set(calls) == {"systemd-watchdog"}
    warnings = [r.getMessage() for r in caplog.records if r.name == "rig.systemd"]
    assert warnings == [
        "unhealthy, no longer pinging the systemd watchdog: camera: no frame for 20 s"
    ]


def test_a_failing_health_check_counts_as_unhealthy(systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    answers = iter([(True, "ok")])

    def health():
        return next(answers)  # the second call raises StopIteration

    watchdog = Watchdog(Notifier(), health)
    watchdog.start()
    assert systemd.receive() == "WATCHDOG=1"
    assert systemd.receive() == "STATUS=unhealthy: health check failed: StopIteration()"
    watchdog.stop()
    assert systemd.pending() == []


def test_stopping_a_healthy_watchdog_ends_the_pings(systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    watchdog = Watchdog(Notifier(), lambda: (True, "ok"))
    watchdog.start()
    assert [systemd.receive() for _ in range(2)] == ["WATCHDOG=1"] * 2
    watchdog.stop()
    assert not watchdog.running
    late = systemd.pending()  # at most what was sent before stop() returned
    assert set(late) <= {"WATCHDOG=1"}
    assert systemd.pending() == []
    assert watchdog.unhealthy_reason is None


def test_a_watchdog_with_an_explicit_interval(systemd):
    seen = threading.Event()

    def health():
        seen.set()
        return True, "ok"

    watchdog = Watchdog(Notifier(), health, interval_s=0.05)
    watchdog.start()
    assert systemd.receive() == "WATCHDOG=1"
    assert seen.is_set()
    watchdog.stop()


# -- journald logging -----------------------------------------------------------


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def journal_stream_of(stream):
    stat = os.fstat(stream.fileno())
    return f"{stat.st_dev}:{stat.st_ino}"


def test_journald_lines_carry_the_syslog_priority(tmp_path, restore_root_logger):
    with open(tmp_path / "journal", "w+") as stream:
        env = {"JOURNAL_STREAM": journal_stream_of(stream)}
        journal_logging(logging.DEBUG, stream=stream, environ=env)
        log = logging.getLogger("rig.test")
        log.debug("pulse train queued")
        log.info("homed; parked at 1.000 mm")
        log.warning("late steps: 3")
        log.error("camera: no frame")
        log.critical("rail: limit switch stuck")
        try:
            raise RuntimeError("wedged")
        except RuntimeError:
            log.exception("stack failed")
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines[:5] == [
        "<7>rig.test: pulse train queued",
        "<6>rig.test: homed; parked at 1.000 mm",
        "<4>rig.test: late steps: 3",
        "<3>rig.test: camera: no frame",
        "<2>rig.test: rail: limit switch stuck",
    ]
    assert lines[5] == "<3>rig.test: stack failed"
    # Every traceback line keeps the error priority (journald splits on newlines).
    assert lines[6] == "<3>Traceback (most recent call last):"
    assert lines[-1] == "<3>RuntimeError: wedged"
    assert all(line.startswith("<3>") for line in lines[5:])


def test_outside_journald_lines_have_a_time_and_level(tmp_path, restore_root_logger):
    with open(tmp_path / "stderr", "w+") as stream:
        journal_logging(logging.INFO, stream=stream, environ={})
        logging.getLogger("rig.test").debug("not shown")
        logging.getLogger("rig.test").warning("late steps: 3")
        stream.seek(0)
        lines = stream.read().splitlines()
    assert len(lines) == 1
    date, time, rest = lines[0].split(" ", 2)
    assert len(date) == 10 and date[4] == "-" and time.count(":") == 2
    assert rest == "WARNING rig.test: late steps: 3"


def test_a_redirected_stderr_under_systemd_is_not_the_journal(tmp_path, restore_root_logger):
    with open(tmp_path / "a", "w+") as journal, open(tmp_path / "b", "w+") as redirected:
        env = {"JOURNAL_STREAM": journal_stream_of(journal)}
        assert logs_to_journal(journal, env)
        assert not logs_to_journal(redirected, env)
        assert not logs_to_journal(journal, {"JOURNAL_STREAM": "garbage"})
        assert not logs_to_journal(journal, {})
        # A stream without a descriptor (e.g. captured output) trusts the variable.
        assert logs_to_journal(io.StringIO(), env)
        handler = journal_logging(stream=redirected, environ=env)
        assert not isinstance(handler.formatter, JournalFormatter)
        assert logging.getLogger().handlers == [handler]


def test_priority_table():
    assert [syslog_priority(n) for n in (5, 10, 15, 20, 25, 30, 40, 50, 60)] == [
        7,
        7,
        7,
        6,
        6,
        4,
        3,
        2,
        2,
    ]
