"""Named plans, saved and reused."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from rig.service import Preset
from web.deps import RigDep
from web.models import PresetIn

router = APIRouter(prefix="/api/presets", tags=["presets"])

# Any string up to the length limit: the rig's one naming rule decides (422 on save).
Name = Annotated[str, Path(min_length=1, max_length=80)]


def _out(p: Preset) -> dict[str, Any]:
    return {"name": p.name, "plan": p.plan, "updated": p.updated}


@router.get("")
def list_presets(rig: RigDep) -> list[dict[str, Any]]:
    return [_out(p) for p in rig.presets()]


@router.get("/{name}")
def get_preset(name: Name, rig: RigDep) -> dict[str, Any]:
    return _out(rig.preset(name))


@router.put("/{name}")
def save_preset(name: Name, body: PresetIn, rig: RigDep) -> dict[str, Any]:
    return _out(rig.save_preset(name, body.plan))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_preset(name: Name, rig: RigDep) -> Response:
    rig.delete_preset(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
