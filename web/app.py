"""The FastAPI application: routers per resource, auth on everything under /api that
moves hardware, changes state or reads results; the phone page at ``/``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rig import __version__
from rig.service import Rig
from web import errors
from web.auth import Auth, require_auth
from web.host_check import HostCheck, HostPolicy
from web.routers import camera, events, jobs, plans, presets, rail, schedules, session, status
from web.same_origin import SameOriginCheck
from web.security_headers import SecurityHeaders

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 256 * 1024  # a plan is a few hundred bytes


class BodyLimit:
    """413 for a request body over the limit, declared (Content-Length) or streamed
    (chunked: counted as it arrives)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (
            not declared.isdigit() or len(declared) > 18 or int(declared) > self.limit
        ):
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:  # raised outside a route (a route answers it as an HTTPException)
            await _too_large(self.limit)(scope, receive, send)


class RevalidatedStaticFiles(StaticFiles):
    """The page's scripts and styles, revalidated on every load (a cheap 304 on the
    LAN): after an upgrade the phone must not mix a cached old script with a new API."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reading passes it on as it is (any other
    exception there becomes a generic 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large_message(limit))


def _too_large_message(limit: int) -> str:
    return f"request body too large (at most {limit // 1024} KiB)"


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": _too_large_message(limit)}, status_code=413)


def create_app(
    rig: Rig,
    auth: Auth,
    *,
    on_startup: Callable[[], Awaitable[None] | None] | None = None,
    on_shutdown: Callable[[], Awaitable[None] | None] | None = None,
    hosts: HostPolicy | None = None,
) -> FastAPI:
    """The app over ``rig``.  ``hosts``: the names it answers to (default: from
    ``[server] hosts`` and the machine's names; loopback only when auth is off)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_startup is not None:
            result = on_startup()
            if result is not None:
                await result
        yield
        if on_shutdown is not None:
            result = on_shutdown()
            if result is not None:
                await result

    app = FastAPIOffline(
        title="macrorig",
        version=__version__,
        lifespan=lifespan,
        description="Focus-stacking macro rig: rail, camera, light, stacks. "
        "Send `Authorization: Bearer <token>` (the token is in `<data>/api-token`).",
    )
    app.state.rig = rig
    app.state.auth = auth
    errors.install(app)
    protected = [Depends(require_auth)]
    for module in (status, rail, camera, plans, presets, jobs, schedules, events):
        app.include_router(module.router, dependencies=protected)
    app.include_router(session.router)
    # The last added runs first: headers on every answer, then Host, then origin.
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_middleware(SameOriginCheck)
    app.add_middleware(
        HostCheck,
        policy=hosts
        or HostPolicy.for_server(rig.config.server.hosts, loopback_only=not auth.enabled),
    )
    app.add_middleware(SecurityHeaders)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", RevalidatedStaticFiles(directory=STATIC), name="static")
    return app
