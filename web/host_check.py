"""Refuse requests whose ``Host`` names a site the rig is not: DNS rebinding.

A page on ``rebind.attacker.example`` whose name the attacker then points at the rig
(or at 127.0.0.1) makes the browser talk to the rig as if it were that site, with
that site's origin: same-origin checks cannot tell.  The ``Host`` header still says
``rebind.attacker.example``, so only requests naming the rig are served: ``localhost``,
its host name and ``<hostname>.local``, the names listed in ``[server] hosts``, and
any IP address (an address cannot be rebound).  With ``--no-auth`` only loopback
names and addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def _plain(name: str) -> str:
    return name.strip().lower().rstrip(".")


def host_name(header: str) -> str | None:
    """The name or address in a ``Host`` header, without port or brackets (None: malformed)."""
    header = header.strip()
    if header.startswith("["):
        address, bracket, rest = header[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return address.lower()
    name, colon, port = header.partition(":")
    if colon and not port.isdigit():
        return None
    return _plain(name) or None


@dataclass(frozen=True)
class HostPolicy:
    names: frozenset[str]
    any_address: bool  # False: loopback addresses only

    @classmethod
    def for_server(cls, hosts: Iterable[str], *, loopback_only: bool) -> HostPolicy:
        names = {"localhost", *(_plain(h) for h in hosts)}
        if not loopback_only:
            machine = _plain(socket.gethostname())
            names |= {machine, f"{machine}.local"}
        return cls(frozenset(names), any_address=not loopback_only)

    def allows(self, host: str) -> bool:
        if host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return self.any_address or address.is_loopback

    def problem(self, header: str | None) -> str | None:
        """Why a request with this ``Host`` is refused (None: it is served)."""
        if header is None:
            return "send a Host header"
        host = host_name(header)
        if host is None:
            return f"Host {header[:100]!r} is malformed"
        if self.allows(host):
            return None
        if not self.any_address:
            return f"Host {host[:100]!r} refused: with --no-auth the rig answers only to localhost"
        return (
            f"Host {host[:100]!r} is not a name of this rig: use its address, or list the "
            "name in the config's [server] hosts"
        )


class HostCheck:
    """ASGI middleware: 400 for a request whose ``Host`` the policy refuses."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers", [])).get(b"host")
            problem = self.policy.problem(None if host is None else host.decode("latin-1"))
            if problem is not None:
                await JSONResponse({"detail": problem}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)
