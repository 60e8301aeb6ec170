"""Domain errors → HTTP answers that say what to fix (never a 500 for bad input)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rig.durable import DiskFull
from rig.jobs.runner import RigUnavailable
from rig.plan import PlanError
from rig.rail import RailError
from rig.service import HardwareUnavailable, RigBusy
from rig.store import Conflict, NotFound

log = logging.getLogger(__name__)


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

    for exc_type, status, prefix in _PLAIN:
        app.add_exception_handler(exc_type, _plain(status, prefix))


# Errors whose message already says what to fix: (type, HTTP status, message prefix).
_PLAIN: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, ""),
    (Conflict, 409, ""),
    (RigBusy, 409, ""),
    (RailError, 409, "rail: "),
    (ValueError, 400, ""),
    (HardwareUnavailable, 503, ""),
    (RigUnavailable, 503, ""),
    (DiskFull, 507, ""),
)


def _plain(status: int, prefix: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return _error(status, f"{prefix}{exc}")

    return handler
