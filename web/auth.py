"""Who may use the API: a bearer token for scripts, a session cookie for the phone page.

The token comes from ``MACRORIG_TOKEN`` or is generated at first start into
``<data>/api-token`` (mode 0600).  The page logs in with the token (or the configured
password) and gets an HttpOnly, SameSite=Strict session cookie.  Comparisons are
constant-time; failed logins are slowed down (the pause doubles per failure from the
same client, up to a few seconds).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rig.data_layout import DataLayout

COOKIE = "macrorig_session"
_MAX_PAUSE_S = 4.0


def load_or_create_token(data_dir: Path) -> str:
    """``MACRORIG_TOKEN`` if set, else ``<data>/api-token`` (created on first use)."""
    env = os.environ.get("MACRORIG_TOKEN")
    if env:
        return env.strip()
    path = DataLayout(data_dir).api_token
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Auth:
    token: str
    password: str | None = None
    enabled: bool = True
    session_s: float = 30 * 24 * 3600.0
    _ended: dict[str, float] = field(default_factory=dict)  # logged out, until expiry
    _failures: dict[str, int] = field(default_factory=dict)

    def check_secret(self, secret: str) -> bool:
        ok = _equal(secret, self.token)
        if self.password is not None:
            ok = _equal(secret, self.password) or ok
        return ok

    def new_session(self) -> str:
        """A signed cookie value ``<expiry>.<nonce>.<mac>``: it needs no server-side
        state, so a phone stays logged in when the daemon restarts (a crash restart at
        night must not lock the photographer out), and changing the token ends them all."""
        body = f"{int(time.time() + self.session_s)}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def end_session(self, sid: str | None) -> None:
        if sid and self.session_valid(sid):
            now = time.time()
            self._ended = {k: v for k, v in self._ended.items() if v > now}
            self._ended[sid] = float(sid.split(".", 1)[0])

    def session_valid(self, sid: str | None) -> bool:
        if not sid or sid in self._ended:
            return False
        body, _, mac = sid.rpartition(".")
        expires, _, _nonce = body.partition(".")
        if not (mac and _equal(mac, self._sign(body)) and expires.isdigit()):
            return False
        return int(expires) > time.time()

    def _sign(self, body: str) -> str:
        key = hashlib.sha256(b"macrorig session key\0" + self.token.encode()).digest()
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

    async def slow_down(self, client: str) -> None:
        """After a failed login: wait longer each time this client fails."""
        failures = self._failures.get(client, 0) + 1
        self._failures[client] = failures
        await asyncio.sleep(min(_MAX_PAUSE_S, 0.25 * 2 ** (failures - 1)))

    def forgive(self, client: str) -> None:
        self._failures.pop(client, None)

    def authenticated(self, request: Request) -> bool:
        if not self.enabled:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials and _equal(credentials.strip(), self.token):
            return True
        return self.session_valid(request.cookies.get(COOKIE))


# Declared so /docs offers "Authorize" and every protected operation lists the scheme.
bearer = HTTPBearer(auto_error=False, description="the API token, from <data>/api-token")


async def require_auth(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """FastAPI dependency for every protected route (bearer token or session cookie)."""
    auth: Auth = request.app.state.auth
    if not auth.authenticated(request):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="log in on the page, or send 'Authorization: Bearer <token>' (the token is in "
            "<data>/api-token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
