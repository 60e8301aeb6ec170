"""Logging in from the phone page (the token, or the password from the config)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from web.auth import COOKIE, Auth
from web.lockout import client_key
from web.models import Login

router = APIRouter(prefix="/api", tags=["session"])


@router.post("/login")
async def login(body: Login, request: Request, response: Response) -> dict[str, bool]:
    auth: Auth = request.app.state.auth
    client = client_key(request.client.host if request.client else None)
    auth.refuse_if_locked_out(client)
    if not auth.check_secret(body.secret):
        auth.lockout.failed(client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong token or password")
    auth.lockout.forgive(client)
    response.set_cookie(
        COOKIE,
        auth.new_session(),
        httponly=True,
        samesite="strict",
        max_age=int(auth.session_s),
        path="/",
    )
    return {"ok": True}


@router.get("/session")
async def session(request: Request) -> dict[str, bool]:
    """Whether this browser is logged in (the page asks before showing the login form,
    instead of reading a 401 from a protected route)."""
    auth: Auth = request.app.state.auth
    return {"logged_in": auth.authenticated(request)}


@router.post("/logout")
async def logout(request: Request, response: Response) -> dict[str, bool]:
    auth: Auth = request.app.state.auth
    auth.end_session(request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/")
    return {"ok": True}
