"""Live preview (MJPEG), focus peaking, magnified crop, snapshot, exposure, light."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import cv2
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse

from rig.service import Rig
from web import preview
from web.deps import RigDep
from web.models import ExposureRequest, LightRequest

router = APIRouter(prefix="/api/camera", tags=["camera"])

BOUNDARY = "macrorigframe"
FRAME_INTERVAL_S = 0.1


def _styled(jpeg: bytes, peaking: bool) -> bytes:
    if not peaking:
        return jpeg
    return preview.encode(preview.focus_peaking(preview.decode(jpeg)))


async def _frames(request: Request, rig: Rig, peaking: bool) -> AsyncIterator[bytes]:
    last: bytes | None = None
    while not await request.is_disconnected():
        jpeg = await run_in_threadpool(rig.preview_jpeg)
        if jpeg is not None and jpeg is not last:
            last = jpeg
            body = await run_in_threadpool(_styled, jpeg, peaking)
            yield (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            yield body + b"\r\n"
        await asyncio.sleep(FRAME_INTERVAL_S)


@router.get("/preview.mjpg")
async def preview_stream(request: Request, rig: RigDep, peaking: bool = False) -> StreamingResponse:
    """Motion-JPEG preview, usable as an ``<img src>``; ``?peaking=true`` paints the
    sharpest edges red."""
    rig.preview_jpeg()  # fail now (503) rather than inside the stream
    return StreamingResponse(
        _frames(request, rig, peaking),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/preview.jpg")
def preview_frame(rig: RigDep, peaking: bool = False) -> Response:
    jpeg = rig.preview_jpeg()
    if jpeg is None:
        return Response(status_code=503, content=b"no preview yet", media_type="text/plain")
    return Response(
        _styled(jpeg, peaking), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


@router.get("/zoom.jpg")
def zoom(
    rig: RigDep,
    x: Annotated[float, Query(ge=0, le=1)] = 0.5,
    y: Annotated[float, Query(ge=0, le=1)] = 0.5,
    size: Annotated[int, Query(ge=64, le=2048)] = 480,
    peaking: bool = False,
) -> Response:
    """A 1:1 crop of a full-resolution frame around (x, y) — fractions of the frame, e.g.
    where the user tapped — to judge focus at the start and end of a stack."""
    frame = rig.snapshot()
    bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    crop = preview.crop_around(bgr, x, y, size)
    if peaking:
        crop = preview.focus_peaking(crop)
    return Response(
        preview.encode(crop, 90), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


@router.get("/snapshot.jpg")
def snapshot(rig: RigDep) -> Response:
    """A full-resolution frame, now."""
    frame = rig.snapshot()
    return Response(
        preview.encode(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), 92),
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/exposure")
def set_exposure(body: ExposureRequest, rig: RigDep) -> dict[str, Any]:
    """``auto``; ``lock`` (freeze the settled auto values); ``fixed`` with values.  The
    answer is shaped as ``camera.exposure`` in ``/api/status``."""
    return rig.exposure(body.mode, body.exposure_us, body.gain, body.colour_gains)


@router.post("/light")
def set_light(body: LightRequest, rig: RigDep) -> dict[str, Any]:
    """Light for framing (0 = off); it switches itself off after five minutes."""
    rig.set_light(body.level)
    return rig.status()["light"]
