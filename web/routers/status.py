"""The rig at a glance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from web.deps import RigDep

router = APIRouter(prefix="/api", tags=["status"])


@router.get("/status")
def get_status(rig: RigDep) -> dict[str, Any]:
    """Rail, camera, light, current job and queue, disk, CPU temperature."""
    return rig.status()
