"""Named plans, saved and reused."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from web.deps import RigDep
from web.models import PresetIn

router = APIRouter(prefix="/api/presets", tags=["presets"])

Name = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[^/\x00-\x1f]+$")]


@router.get("")
def list_presets(rig: RigDep) -> list[dict[str, Any]]:
    return [{"name": p.name, "plan": p.plan, "updated": p.updated} for p in rig.store.presets()]


@router.get("/{name}")
def get_preset(name: Name, rig: RigDep) -> dict[str, Any]:
    p = rig.store.preset(name)
    return {"name": p.name, "plan": p.plan, "updated": p.updated}


@router.put("/{name}")
def save_preset(name: Name, body: PresetIn, rig: RigDep) -> dict[str, Any]:
    p = rig.store.save_preset(name, body.plan.model_dump(mode="json"))
    return {"name": p.name, "plan": p.plan, "updated": p.updated}


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_preset(name: Name, rig: RigDep) -> Response:
    rig.store.delete_preset(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
