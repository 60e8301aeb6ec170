"""Who may use the API: a bearer token for scripts, a session cookie for the phone page.

The token comes from ``MACRORIG_TOKEN`` or is generated at first start into
``<data>/api-token`` (mode 0600).  The page logs in with the token (or the configured
password) and gets an HttpOnly, SameSite=Strict session cookie.  Comparisons are
constant-time; failed logins and wrong bearer tokens lock their sender out for a
growing pause (:mod:`web.lockout`).  A logout is remembered in the rig's store
(:class:`EndedSessions`), so it holds across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rig.data_layout import DataLayout
from web.lockout import Lockout, client_key, retry_after

COOKIE = "macrorig_session"


class EndedSessions(Protocol):
    """Where logged-out sessions are remembered until they expire (the rig's store)."""

    def end_session(self, session_id: str, expires: float) -> None: ...

    def session_ended(self, session_id: str) -> bool: ...


@dataclass
class MemoryEndedSessions:
    """Ended sessions in memory only (tests, and an app without a store)."""

    ended: dict[str, float] = field(default_factory=dict)

    def end_session(self, session_id: str, expires: float) -> None:
        now = time.time()
        self.ended = {k: v for k, v in self.ended.items() if v > now}
        self.ended[session_id] = expires

    def session_ended(self, session_id: str) -> bool:
        return session_id in self.ended


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
    ended: EndedSessions = field(default_factory=MemoryEndedSessions)
    lockout: Lockout = field(default_factory=Lockout)

    def check_secret(self, secret: str) -> bool:
        ok = _equal(secret, self.token)
        if self.password is not None:
            ok = _equal(secret, self.password) or ok
        return ok

    def new_session(self) -> str:
        """A signed cookie value ``<expiry>.<nonce>.<mac>``: valid without server-side
        state, so a phone stays logged in when the daemon restarts (a crash restart at
        night must not lock the photographer out), and changing the token ends them all.
        Only a logout is remembered (by its nonce, which is no secret)."""
        body = f"{int(time.time() + self.session_s)}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def end_session(self, sid: str | None) -> None:
        if sid and self.session_valid(sid):
            expires, nonce, _mac = sid.split(".", 2)
            self.ended.end_session(nonce, float(expires))

    def session_valid(self, sid: str | None) -> bool:
        if not sid or len(sid) > 200:
            return False
        body, _, mac = sid.rpartition(".")
        expires, _, nonce = body.partition(".")
        if not (mac and _equal(mac, self._sign(body)) and expires.isdigit()):
            return False
        return int(expires) > time.time() and not self.ended.session_ended(nonce)

    def _sign(self, body: str) -> str:
        key = hashlib.sha256(b"macrorig session key\0" + self.token.encode()).digest()
        return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

    def refuse_if_locked_out(self, client: str) -> None:
        """429 while ``client`` waits out its last wrong secret (checked before the
        secret, so parallel requests cannot guess during the pause)."""
        wait = self.lockout.wait_s(client)
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"too many wrong tokens or passwords from this address: try again in "
                f"{retry_after(wait)} s",
                headers={"Retry-After": retry_after(wait)},
            )

    def authenticated(self, request: Request) -> bool:
        if not self.enabled:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            # A script's token: a wrong one is a guess, slowed like a failed login.
            client = client_key(request.client.host if request.client else None)
            self.refuse_if_locked_out(client)
            if _equal(credentials.strip(), self.token):
                return True
            self.lockout.failed(client)
            return False
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
