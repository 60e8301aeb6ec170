"""Where the rig may send a request of its own (a job's ``callback_url``): not to itself.

A callback URL comes from a client, so it must not make the rig post to what only the
rig can reach: its own loopback services, the link-local and cloud metadata addresses
(169.254.169.254), the unspecified address (0.0.0.0 reaches this machine), multicast
and broadcast.  The LAN and the internet are fine; the config's allow-list
(``[callbacks] allow``: host names and networks) lets chosen targets through anyway.

The name is resolved here and *every* address it resolves to is checked, so odd
spellings (``0x7f000001``, ``127.1``, ``[::ffff:127.0.0.1]``, ``LOCALHOST.``) fall to the
same check as the plain ones.  :func:`vet_url` runs at submission (a clear refusal) and
again right before each delivery, and :class:`Target` carries the vetted addresses so
the request goes to exactly one of them (no second lookup that DNS could answer
differently; the next one only when the first refuses the connection).  Redirects are
not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from rig.errors import InvalidValue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Cloud metadata services: AWS/GCP/Azure (also IPv4 link-local), AWS over IPv6, Alibaba.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# 0.0.0.0/8 is "this network": connecting to any of it reaches this machine on Linux.
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(InvalidValue):
    """A URL the rig will not send requests to (the message says why)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as the socket layer will connect to it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(address: IPAddress) -> IPAddress:
    """An IPv6 address that carries an IPv4 one (mapped, NAT64) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal(address: IPAddress) -> str | None:
    """Why the rig must not connect to ``address`` (None: it may)."""
    address = _embedded_v4(address)
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_unspecified or address in THIS_NETWORK:
        return "an unspecified address (this machine)"
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and (
        address == ipaddress.IPv4Address("255.255.255.255") or address.is_reserved
    ):
        return "a broadcast or reserved address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which targets the rig may reach: everything but :func:`refusal`'s addresses, plus
    the allow-list's host names (matched exactly, case-insensitive) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    resolve: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def of(cls, allow: Iterable[str], resolve: Resolver = system_resolver) -> AddressPolicy:
        """From the config's allow-list: each entry an address, a network (CIDR) or a name."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(_plain_host(entry))
        return cls(frozenset(hosts), tuple(networks), resolve)

    def allows(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks) or refusal(address) is None


@dataclass(frozen=True)
class Target:
    """A vetted URL: connect to one of ``addresses`` (every one vetted, in the order the
    resolver gave them), say ``host`` (Host header, TLS name)."""

    url: str
    host: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]

    def request_options(self, address: str | None = None) -> dict[str, Any]:
        """Keyword arguments for :meth:`httpx.Client.post` (from :func:`client`) that send
        the request to a vetted address (the first unless given) while the server still
        sees (and TLS still verifies) the URL's own name."""
        if address is None:
            address = self.address
        elif address not in self.addresses:
            raise ValueError(f"{address} is not one of the vetted addresses of {self.host}")
        original = httpx.URL(self.url)
        pinned = original.copy_with(host=address)
        host_header = original.netloc.decode("ascii")
        extensions = {"sni_hostname": self.host} if original.scheme == "https" else {}
        return {"url": pinned, "headers": {"Host": host_header}, "extensions": extensions}


def client(**options: Any) -> httpx.Client:
    """An HTTP client for vetted targets: no redirects (each would need vetting again),
    no proxy from the environment (it would connect elsewhere than the vetted address)."""
    return httpx.Client(follow_redirects=False, trust_env=False, **options)


def _plain_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def vet_url(url: str, policy: AddressPolicy, *, what: str = "callback_url") -> Target:
    """The URL's target if the rig may post to it; :class:`UnsafeTarget` otherwise.

    Resolves the name now: call it again right before each delivery (DNS changes)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeTarget(f"{what}: not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise UnsafeTarget(f"{what}: use an http:// or https:// URL")
    if parsed.userinfo:
        raise UnsafeTarget(
            f"{what}: a user name or password in the URL is not allowed "
            "(put a secret in the path or query instead)"
        )
    host = parsed.host
    if not host:
        raise UnsafeTarget(f"{what}: the URL names no host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = policy.resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"{what}: cannot resolve {host!r} ({_reason(exc)})") from None
    if not addresses:
        raise UnsafeTarget(f"{what}: {host!r} resolves to no address")
    if _plain_host(host) not in policy.hosts:
        for text in addresses:
            address = ipaddress.ip_address(text)
            if not policy.allows(address):
                raise UnsafeTarget(
                    f"{what}: {host!r} is {address}, {refusal(address)}: the rig does not "
                    "send requests there (list it in the config's [callbacks] allow if you "
                    "mean it)"
                )
    return Target(url, host, tuple(addresses))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
