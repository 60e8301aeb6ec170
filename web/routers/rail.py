"""Moving the rail by hand (refused with 409 while a stack runs or it already moves)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status

from web.deps import RigDep
from web.models import Distance

router = APIRouter(prefix="/api/rail", tags=["rail"])


@router.get("")
def rail_status(rig: RigDep) -> dict[str, Any]:
    return rig.rail_status()


@router.post("/jog", status_code=status.HTTP_202_ACCEPTED)
def jog(body: Distance, rig: RigDep) -> dict[str, Any]:
    """Move by ±mm (the move runs on; watch /api/events or /api/rail)."""
    rig.jog(body.mm)
    return rig.rail_status()


@router.post("/move", status_code=status.HTTP_202_ACCEPTED)
def move(body: Distance, rig: RigDep) -> dict[str, Any]:
    """Move to an absolute position (mm)."""
    rig.move_to(body.mm)
    return rig.rail_status()


@router.post("/subject", status_code=status.HTTP_202_ACCEPTED)
def go_to_subject(rig: RigDep) -> dict[str, Any]:
    """Move to where the subject is in focus (``subject`` in ``/api/status``: the
    simulated scene, or the middle of the marks); 409 while the position is unknown."""
    rig.go_to_subject()
    return rig.rail_status()


@router.post("/home", status_code=status.HTTP_202_ACCEPTED)
def home(rig: RigDep) -> dict[str, Any]:
    rig.home()
    return rig.rail_status()


@router.post("/stop")
def stop(rig: RigDep) -> dict[str, Any]:
    """Decelerate a manual move (a running stack is cancelled through its job)."""
    rig.stop_rail()
    return rig.rail_status()


@router.post("/marks/{which}")
def set_mark(which: Literal["start", "end"], rig: RigDep) -> dict[str, float]:
    """Remember the current position as the stack's start or end."""
    rig.set_mark(which)
    return rig.status()["marks"]
