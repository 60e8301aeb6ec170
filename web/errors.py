"""The rig's refusals → HTTP answers that say what to fix; anything else is a bug.

Every kind of refusal has its status in :data:`REFUSALS`.  An exception not in the table
is an internal error: logged with its traceback and answered with a plain 500 that
shows no internals — never a 4xx that would blame the client for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rig.durable import DiskFull
from rig.errors import (
    Conflict,
    HardwareUnavailable,
    InvalidRequest,
    NotFound,
    RigBusy,
    StoreDamaged,
)
from rig.plan import PlanError
from rig.rail import RailError

log = logging.getLogger(__name__)

# The rig's refusals, whose message already says what to fix: (type, status, prefix).
REFUSALS: tuple[tuple[type[Exception], int, str], ...] = (
    (InvalidRequest, 400, ""),
    (NotFound, 404, ""),
    (Conflict, 409, ""),
    (RigBusy, 409, ""),
    (RailError, 409, "rail: "),
    (HardwareUnavailable, 503, ""),
    (StoreDamaged, 503, ""),
    (DiskFull, 507, ""),
)


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": message, **extra}, status_code=status)


def _location(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{_location(tuple(err.get('loc', ())))}: {msg}")
        return _error(422, "; ".join(problems) or "invalid request", problems=problems)

    @app.exception_handler(PlanError)
    async def plan(_: Request, exc: PlanError) -> JSONResponse:
        return _error(422, "; ".join(exc.problems), problems=exc.problems)

    for exc_type, status, prefix in REFUSALS:
        app.add_exception_handler(exc_type, _refusal(status, prefix))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal error: the rig's log has the details")


def _refusal(status: int, prefix: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _error(status, f"{prefix}{exc}")

    return handler
