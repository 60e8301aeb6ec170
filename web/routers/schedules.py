"""Schedules: repeat a preset every T minutes, K times or until a time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from rig.service import Schedule, ScheduleSpec
from web.deps import RigDep
from web.models import ScheduleIn, SchedulePatch

router = APIRouter(prefix="/api/schedules", tags=["schedules"])


def _out(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "preset": s.preset,
        "every_min": s.every_min,
        "times": s.times,
        "until": s.until,
        "next_at": s.next_at,
        "runs": s.runs,
        "skipped": s.skipped,
        "enabled": s.enabled,
        "last_job": s.last_job,
        "error": s.error,
    }


@router.get("")
def list_schedules(rig: RigDep) -> list[dict[str, Any]]:
    return [_out(s) for s in rig.schedules()]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_schedule(body: ScheduleIn, rig: RigDep) -> dict[str, Any]:
    return _out(rig.create_schedule(ScheduleSpec(**body.model_dump())))


@router.get("/{schedule_id}")
def get_schedule(schedule_id: str, rig: RigDep) -> dict[str, Any]:
    return _out(rig.schedule(schedule_id))


@router.patch("/{schedule_id}")
def patch_schedule(schedule_id: str, body: SchedulePatch, rig: RigDep) -> dict[str, Any]:
    return _out(rig.enable_schedule(schedule_id, body.enabled))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_schedule(schedule_id: str, rig: RigDep) -> Response:
    rig.delete_schedule(schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
