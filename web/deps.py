"""Shared FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rig.service import Rig


def get_rig(request: Request) -> Rig:
    rig: Rig = request.app.state.rig
    return rig


RigDep = Annotated[Rig, Depends(get_rig)]
