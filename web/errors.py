"""The rig's refusals → HTTP answers that say what to fix; anything else is a bug.

Every kind of refusal has its status in :data:`REFUSALS`.  An exception not in the table
is an internal error: logged with its traceback and answered with a plain 500 that
shows no internals — never a 4xx that would blame the client for it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rig.durable import DiskFull
from rig.errors import (
    Conflict,
    HardwareUnavailable,
    InvalidRequest,
    InvalidValue,
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
    (InvalidValue, 422, ""),  # a field's value, as pydantic's own refusals
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


def unreadable_body(cause: BaseException | None) -> str | None:
    """What is wrong with a body FastAPI could not parse (None: not a parse failure).

    Python's own messages would name its internals (``sys.set_int_max_str_digits``)."""
    if isinstance(cause, UnicodeDecodeError):
        return f"body: not valid UTF-8 (byte {cause.start}); send JSON encoded as UTF-8"
    if isinstance(cause, RecursionError):
        return "body: JSON nested too deeply (a plan is a few levels deep)"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return f"body: a number with more than {sys.get_int_max_str_digits()} digits"
    if isinstance(cause, ValueError):
        return "body: not valid JSON"
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers every body it cannot parse with one generic 400: say why.
        problem = unreadable_body(exc.__cause__) if exc.status_code == 400 else None
        if problem is not None:
            return _error(400, problem)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        json_error = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if json_error is not None:
            where = json_error.get("loc", ("body", "?"))[-1]
            why = json_error.get("ctx", {}).get("error", "JSON decode error")
            return _error(400, f"body: not valid JSON ({why} at character {where})")
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
