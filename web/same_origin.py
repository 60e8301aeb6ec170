"""Refuse state-changing requests that a browser sends on behalf of another site (CSRF).

SameSite cookies do not separate ports: a page on ``127.0.0.1:18802`` is the same *site*
as the rig on ``127.0.0.1:18801``, so the logged-in phone's browser would send its
cookie with a form posted from there.  Browsers say where a request comes from:
``Sec-Fetch-Site`` (all current browsers) or else ``Origin``.  A POST, PUT, PATCH or
DELETE is served when it comes from the rig's own page (``same-origin``), from the user
(``none``: typed, bookmarked), or from no browser at all (neither header: curl, scripts).
A request with an ``Authorization`` header is a script's: a browser sends none on its
own, and another site's page cannot add one without a CORS preflight the rig never
allows.  The same rule as Go's ``http.CrossOriginProtection``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _same_host(origin: str, host: str) -> bool:
    """Whether ``Origin`` names the host and port the request was sent to."""
    try:
        parts = urlsplit(origin)
        default = _DEFAULT_PORTS.get(parts.scheme)
        origin_port = parts.port or default
        target = urlsplit(f"{parts.scheme}://{host}")
        target_port = target.port or default
    except ValueError:
        return False
    return (
        default is not None
        and parts.hostname is not None
        and parts.hostname == target.hostname
        and origin_port == target_port
    )


def cross_origin_problem(method: str, headers: dict[bytes, bytes]) -> str | None:
    """Why this request looks forged by another site (None: it does not)."""
    if method in SAFE_METHODS or b"authorization" in headers:
        return None
    site = headers.get(b"sec-fetch-site")
    if site is not None:
        if site in (b"same-origin", b"none"):
            return None
        return (
            f"refused: this request came from another site ({site.decode('latin-1')[:40]}); "
            "the rig takes changes only from its own page or with an API token"
        )
    origin = headers.get(b"origin")
    if origin is None:
        return None
    text = origin.decode("latin-1")
    if _same_host(text, headers.get(b"host", b"").decode("latin-1")):
        return None
    return (
        f"refused: this request came from {text[:100]}, another site; the rig takes changes "
        "only from its own page or with an API token"
    )


class SameOriginCheck:
    """ASGI middleware: 403 for a state-changing request another site's page sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = cross_origin_problem(scope["method"], dict(scope.get("headers", [])))
            if problem is not None:
                await JSONResponse({"detail": problem}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
