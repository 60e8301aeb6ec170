"""Planning helpers: the depth-of-field step calculator and a plan check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rig.plan import StackPlan, depth_of_field_um, recommended_step_um
from web.deps import RigDep
from web.models import DofRequest

router = APIRouter(prefix="/api/plans", tags=["plans"])


@router.post("/dof")
def dof(body: DofRequest) -> dict[str, float]:
    """Wave-optics depth of field (4·λ·N_eff²/m², N_eff = N·(1+m)) and the step that
    overlaps neighbouring frames' sharp bands by ``overlap``."""
    return {
        "dof_um": round(
            depth_of_field_um(body.magnification, body.f_number, body.wavelength_um), 3
        ),
        "step_um": round(
            recommended_step_um(
                body.magnification, body.f_number, body.overlap, body.wavelength_um
            ),
            3,
        ),
    }


@router.post("/check")
def check(plan: StackPlan, rig: RigDep) -> dict[str, Any]:
    """What a plan would do here: frames, positions, duration and disk estimates, or 422
    with the problems (outside the soft limits, not enough disk)."""
    return rig.check_plan(plan).as_dict()
