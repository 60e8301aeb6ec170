"""Domain errors → HTTP answers that say what to fix (never a 500 for bad input)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rig.frames import DiskFull
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

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(RigBusy)
    async def busy(_: Request, exc: RigBusy) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(RailError)
    async def rail(_: Request, exc: RailError) -> JSONResponse:
        return _error(409, f"rail: {exc}")

    @app.exception_handler(ValueError)
    async def bad_value(_: Request, exc: ValueError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(HardwareUnavailable)
    async def no_hardware(_: Request, exc: HardwareUnavailable) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(RigUnavailable)
    async def unavailable(_: Request, exc: RigUnavailable) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(DiskFull)
    async def disk_full(_: Request, exc: DiskFull) -> JSONResponse:
        return _error(507, str(exc))
