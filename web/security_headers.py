"""Headers on every answer that keep the page from being framed, sniffed or leaked.

``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` stop another site from
showing the page in a frame and tricking taps onto the jog buttons (clickjacking).  The
page loads nothing but its own scripts and styles, so the rest of the policy allows only
those (the images of the viewer and the zoom are ``blob:`` URLs).  The API docs page
(Swagger UI) starts with an inline script: it gets only the framing rules.
``Cross-Origin-Resource-Policy: same-origin`` keeps other sites from embedding the
rig's images and preview stream in theirs: with a login the session cookie (SameSite)
already does, but ``--no-auth`` has no cookie, and any page the photographer opens on the
same computer could otherwise show (and time) what the rig serves on loopback.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = "frame-ancestors 'none'"
DOCS_PATHS = ("/docs", "/redoc")

COMMON = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: adds the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)
        policy = DOCS_POLICY if docs else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**COMMON, "Content-Security-Policy": policy}.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
