"""Wrong secrets slow their sender down, however many requests it sends at once.

Every failed login and every wrong bearer token counts against the client's address
(an IPv6 client's /64, which one machine can fill with addresses).  The first failure is
free (a typo); after the n-th the address is locked for 0.25·2ⁿ⁻² s, at most
``max_pause_s``, and every request from it in that time — parallel ones included — is
refused unchecked (429 with ``Retry-After``): one guess per pause, however many
connections.  A success forgives; so does ``forget_s`` without a failure.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_PAUSE_S = 0.25


def client_key(address: str | None) -> str:
    """Whom failures are counted against: the address, or an IPv6 address's /64."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass
class Lockout:
    max_pause_s: float = 30.0
    free_failures: int = 1
    forget_s: float = 15 * 60.0
    clock: Callable[[], float] = time.monotonic
    _clients: dict[str, _Record] = field(default_factory=dict)

    def wait_s(self, client: str) -> float:
        """How long ``client`` must still wait before its next try (0: it may try)."""
        record = self._clients.get(client)
        if record is None:
            return 0.0
        now = self.clock()
        if now - record.last_failure > self.forget_s:
            del self._clients[client]
            return 0.0
        return max(0.0, record.locked_until - now)

    def failed(self, client: str) -> float:
        """Count a failure; returns the pause it locks ``client`` for."""
        now = self.clock()
        self._forget_old(now)
        record = self._clients.setdefault(client, _Record())
        record.failures += 1
        record.last_failure = now
        counted = record.failures - self.free_failures
        pause = 0.0 if counted <= 0 else FIRST_PAUSE_S * 2 ** min(counted - 1, 30)
        pause = min(self.max_pause_s, pause)
        record.locked_until = now + pause
        return pause

    def forgive(self, client: str) -> None:
        self._clients.pop(client, None)

    def failures(self, client: str) -> int:
        record = self._clients.get(client)
        return record.failures if record else 0

    def _forget_old(self, now: float) -> None:
        # Bounded memory: a scan of many addresses leaves nothing behind for long.
        if len(self._clients) > 1000:
            self._clients = {
                k: r for k, r in self._clients.items() if now - r.last_failure <= self.forget_s
            }


def retry_after(wait_s: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up."""
    return str(max(1, math.ceil(wait_s)))
