"""``macrorig serve``: the web app and the runner in one process.

Start-up: configuration, the rig lock (one process per rig), the listening socket (a busy
port is refused here, before anything else starts), devices (driver disabled
and LED off first thing), the job store (jobs a dead daemon left running become
interrupted), the runner, the web server; then ``READY=1`` to systemd and watchdog
pings for as long as the runner is healthy.  SIGTERM/SIGINT: the web server stops
accepting, the runner stops after the frame in progress (that job becomes
interrupted), the driver is disabled, the LED switched off, exit status 0.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
from pathlib import Path
from typing import Any

import uvicorn

from rig.config import Config, DataConfig
from rig.data_layout import DataLayout
from rig.devices import RigInUse, rig_lock
from rig.events import Event
from rig.service import Rig
from rig.systemd import Notifier, Watchdog
from stacker.memory import limit_heap_fragmentation
from web.app import create_app
from web.auth import Auth, load_or_create_token

log = logging.getLogger("macrorig")

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class DaemonError(RuntimeError):
    """The daemon cannot start (message says why and what to do)."""


def with_data_dir(config: Config, data_dir: Path | None) -> Config:
    if data_dir is None:
        return config
    return config.model_copy(update={"data": DataConfig(dir=data_dir.expanduser().resolve())})


def serve(config: Config, *, simulate: bool, host: str, port: int, no_auth: bool = False) -> int:
    if no_auth and host not in LOOPBACK:
        raise DaemonError(
            f"--no-auth is only allowed when listening on loopback (127.0.0.1), not {host}"
        )
    limit_heap_fragmentation()
    try:
        with rig_lock(config, simulate):
            listener = bind(host, port)
            try:
                return _serve_locked(
                    config, listener, simulate=simulate, host=host, port=port, no_auth=no_auth
                )
            finally:
                listener.close()
    except RigInUse as exc:
        raise DaemonError(
            f"another macrorig process is using this rig ({exc}); stop it first"
        ) from None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts — so "ready" (the log
    line, systemd's READY=1) is only ever said by a daemon that can be reached, and a
    busy port is a clear refusal before the rig's devices are touched."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise DaemonError(f"cannot listen on {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise DaemonError(
                f"port {port} on {host} is already in use (another macrorig or another "
                "server); stop it or choose another with --port"
            ) from None
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _serve_locked(
    config: Config,
    listener: socket.socket,
    *,
    simulate: bool,
    host: str,
    port: int,
    no_auth: bool,
) -> int:
    rig = Rig(config, simulate=simulate)
    rig.open()
    notifier = Notifier()
    watchdog = Watchdog(notifier, rig.health)
    token = load_or_create_token(config.data_dir)
    auth = Auth(
        token=token,
        password=config.auth.password,
        enabled=not no_auth,
        session_s=config.auth.session_hours * 3600,
        ended=rig.store,
    )
    rig.bus.listen(lambda event: _status_line(notifier, event))
    closed = False

    def close_rig() -> None:
        nonlocal closed
        if not closed:
            closed = True
            rig.close()

    def started() -> None:
        where = "simulated bench" if simulate else "hardware"
        if rig.hardware_error:
            where = f"NO HARDWARE ({rig.hardware_error})"
        log.info(
            "macrorig ready on http://%s:%d/ (%s); API token in %s",
            _display_host(host),
            port,
            where,
            "$MACRORIG_TOKEN" if _token_from_env() else DataLayout(config.data_dir).api_token,
        )
        notifier.ready(
            status="idle" if not rig.hardware_error else f"hardware error: {rig.hardware_error}"
        )
        watchdog.start()

    def stopping() -> None:
        log.info("stopping: finishing the frame in progress")
        notifier.stopping()
        watchdog.stop()
        close_rig()

    app = create_app(rig, auth, on_startup=started, on_shutdown=stopping)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=3,
            lifespan="on",
            **proxy_options(config.server.trusted_proxies),
        )
    )
    # uvicorn handles SIGTERM/SIGINT itself (graceful shutdown, which closes the rig) and
    # afterwards re-sends the signal to the handler that was there before it: let that
    # one do nothing, so a requested stop ends with exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[listener])
    finally:
        close_rig()
    if not server.started:
        raise DaemonError(f"the web server could not start on {host}:{port}; the log says why")
    log.info("stopped: driver disabled, light off")
    return 0


def proxy_options(trusted_proxies: tuple[str, ...]) -> dict[str, Any]:
    """uvicorn's X-Forwarded-For handling: only from the configured proxies.  uvicorn
    believes loopback by default, which would let any local client choose the address
    its failed logins count against."""
    if not trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(trusted_proxies)}


def _status_line(notifier: Notifier, event: Event) -> None:
    if event.type == "frame":
        notifier.status(
            f"job {event.data['job_id']}: frame {event.data['frame']} of {event.data['count']}"
        )
    elif event.type == "job":
        job = event.data["job"]
        notifier.status(f"job {job['id']}: {job['state']}")


def _display_host(host: str) -> str:
    return socket.gethostname() + ".local" if host in ("0.0.0.0", "::") else host


def _token_from_env() -> bool:
    import os

    return bool(os.environ.get("MACRORIG_TOKEN"))
