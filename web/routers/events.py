"""Server-Sent Events: job and rig events as they happen."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from sse_starlette.sse import EventSourceResponse

from rig.service import Rig
from web.deps import RigDep

router = APIRouter(prefix="/api", tags=["events"])


async def _stream(request: Request, rig: Rig, after: int | None) -> AsyncIterator[dict[str, Any]]:
    async for event in rig.bus.subscribe(after=after):
        if await request.is_disconnected():
            return
        yield {"id": str(event.id), "event": event.type, "data": json.dumps(event.as_dict())}


@router.get("/events")
async def events(
    request: Request, rig: RigDep, last_event_id: Annotated[str | None, Header()] = None
) -> EventSourceResponse:
    """``job`` (state changes), ``frame`` (frame n of N, ETA), ``fused``, ``rail``,
    ``schedule``… — reconnect with ``Last-Event-ID`` to get what was missed."""
    return EventSourceResponse(_stream(request, rig, _event_id(last_event_id)), ping=15)


def _event_id(header: str | None) -> int | None:
    """The id a reconnecting client saw last (the rig's ids are numbers)."""
    if not header:
        return None
    if header.isascii() and header.isdigit() and len(header) <= 18:
        return int(header)
    raise HTTPException(
        status.HTTP_400_BAD_REQUEST,
        detail="Last-Event-ID: send the id of the last event received (a number of at most "
        "18 digits), or no header to start from now",
    )
