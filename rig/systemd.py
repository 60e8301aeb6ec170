"""Talk to systemd without a dependency: readiness, status, watchdog, journald logging.

The service manager passes everything through the environment
(``systemd.exec(5)``, ``sd_notify(3)``):

``NOTIFY_SOCKET``
    an ``AF_UNIX`` datagram socket (a path, or ``@name`` for an abstract
    socket) that takes ``KEY=value`` lines: ``READY=1``, ``STATUS=...``,
    ``WATCHDOG=1``, ``STOPPING=1``.
``WATCHDOG_USEC`` / ``WATCHDOG_PID``
    with ``WatchdogSec=`` in the unit, systemd kills the service unless it
    sends ``WATCHDOG=1`` at least this often; ``sd_watchdog_enabled(3)``
    recommends pinging every half of it.
``JOURNAL_STREAM``
    ``device:inode`` of the journal stream when stdout/stderr go to journald,
    which then reads a ``<N>`` syslog-priority prefix on each line.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op, so the daemon
uses the same code in a terminal, in tests and as a service::

    notifier = Notifier()
    watchdog = Watchdog(notifier, rig_health)   # () -> (healthy, reason)
    notifier.ready()
    watchdog.start()
    ...
    notifier.stopping()
    watchdog.stop()

A failed send is logged at debug level and otherwise ignored: losing touch
with systemd must never take the rig down (if pings stop arriving, the
watchdog restarts us anyway).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

log = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, str]]

_KEY = re.compile(r"^[A-Z0-9_]+$")


class Notifier:
    """``sd_notify(3)`` over ``NOTIFY_SOCKET``; does nothing when systemd did not ask.

    :param environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and
        ``WATCHDOG_PID`` (default: ``os.environ``, read once, here).
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = _socket_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = _watchdog_usec(env)
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether systemd gave us a socket to notify."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``), or None if not asked."""
        if self._address is None or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1e6

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (``Type=notify`` units are "active" from now on)."""
        return self.notify(READY=1) if status is None else self.notify(READY=1, STATUS=status)

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Tell the watchdog we are alive."""
        return self.notify(WATCHDOG=1)

    def stopping(self) -> bool:
        """Shutting down: systemd shows "deactivating" and waits for us to exit."""
        return self.notify(STOPPING=1)

    def notify(self, **fields: object) -> bool:
        """Send ``KEY=value`` lines in one datagram; True if it was sent.

        Keys are upper case (``READY``, ``STATUS``...); a newline inside a value
        would start a new assignment, so it becomes a space.
        """
        if self._address is None or not fields:
            return False
        for key in fields:
            if not _KEY.match(key):
                raise ValueError(f"{key!r} is not a notify field name (use e.g. READY, STATUS)")
        message = "\n".join(
            f"{key}={' '.join(str(value).splitlines())}" for key, value in fields.items()
        )
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                    )
                self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.debug("could not notify systemd (%s): %s", message.replace("\n", " "), exc)
            self._drop_socket()
            return False
        return True

    def close(self) -> None:
        self._drop_socket()

    def _drop_socket(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _socket_address(value: str) -> str | None:
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    if value:
        # e.g. "vsock:..." (systemd 254+, for VMs): not something this rig is run under.
        log.debug("NOTIFY_SOCKET=%r is not a unix socket; not notifying systemd", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid is not None:
        try:
            if int(pid) != os.getpid():
                return None  # the watchdog is meant for another process (e.g. our parent)
        except ValueError:
            return None
    return usec


class Watchdog:
    """Ping systemd's watchdog for as long as ``health()`` says the rig is healthy.

    A daemon thread calls ``health()`` every ``interval_s`` (default: the
    notifier's :attr:`Notifier.watchdog_interval_s`) and sends ``WATCHDOG=1``
    after each healthy answer.  The first unhealthy answer (or an exception
    from ``health``) is logged once at warning level, shown as the unit's
    STATUS, and ends the pings for good: systemd then kills and restarts the
    service (``WatchdogSec=`` with ``Restart=on-failure``).  A ``health`` that
    hangs stops the pings just the same.

    Without a watchdog interval (not under systemd, no ``WatchdogSec=``) it does
    nothing.
    """

    def __init__(
        self, notifier: Notifier, health: HealthCheck, *, interval_s: float | None = None
    ) -> None:
        self._notifier = notifier
        self._health = health
        self.interval_s = notifier.watchdog_interval_s if interval_s is None else interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.unhealthy_reason: str | None = None
        self.pings = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.interval_s is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop pinging and wait for the thread (a hung health check is not waited for)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if timeout is not None else 2 * (self.interval_s or 0) + 5)

    def _run(self) -> None:
        interval = self.interval_s
        assert interval is not None
        while not self._stop.is_set():
            healthy, reason = self._check()
            if self._stop.is_set():
                break
            if not healthy:
                self.unhealthy_reason = reason
                log.warning("unhealthy, no longer pinging the systemd watchdog: %s", reason)
                self._notifier.status(f"unhealthy: {reason}")
                return
            self._notifier.watchdog()
            self.pings += 1
            self._stop.wait(interval)

    def _check(self) -> tuple[bool, str]:
        try:
            healthy, reason = self._health()
        except Exception as exc:
            return False, f"health check failed: {exc!r}"
        return bool(healthy), str(reason)


# syslog priorities (sd-daemon.h): journald reads "<N>" at the start of a line.
_PRIORITIES = (
    (logging.CRITICAL, 2),  # SD_CRIT
    (logging.ERROR, 3),  # SD_ERR
    (logging.WARNING, 4),  # SD_WARNING
    (logging.INFO, 6),  # SD_INFO
)
_DEBUG_PRIORITY = 7  # SD_DEBUG

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT = "%(name)s: %(message)s"


def syslog_priority(levelno: int) -> int:
    """The syslog priority journald should record for a logging level."""
    for level, priority in _PRIORITIES:
        if levelno >= level:
            return priority
    return _DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """No timestamp (journald adds one); ``<N>`` on every line, tracebacks included."""

    def __init__(self) -> None:
        super().__init__(JOURNAL_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def logs_to_journal(stream: IO[str] | Any, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is the journal stream named by ``JOURNAL_STREAM``.

    systemd sets ``JOURNAL_STREAM=device:inode``; comparing it with the stream
    tells a redirected stderr (``macrorig serve 2>file`` under systemd) apart.
    A stream without a file descriptor is trusted to be the journal.
    """
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":"))
    except ValueError:
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return True
    return (stat.st_dev, stat.st_ino) == (device, inode)


def journal_logging(
    level: int = logging.INFO,
    *,
    stream: IO[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Configure the root logger: journald format under systemd, else ``time level name: msg``.

    Replaces the root logger's handlers; returns the new handler.
    """
    target = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(target)
    if logs_to_journal(target, environ):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
