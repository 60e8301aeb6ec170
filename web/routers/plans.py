"""Planning helpers: the depth-of-field step calculator and a plan check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rig.plan import StackPlan, check_plan, depth_of_field_um, estimate_bytes, recommended_step_um
from web.deps import RigDep
from web.models import DofRequest

router = APIRouter(prefix="/api/plans", tags=["plans"])

# Rough time the rig spends per frame beyond settling: move, exposure, saving.
_OVERHEAD_S = 0.6


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
    rail = rig.config.rail
    size = rig.config.sim.resolution if rig.simulate else rig.config.camera.resolution
    check_plan(
        plan,
        soft_limits=(rail.soft_min_mm, rail.soft_max_mm),
        frame_size=tuple(size),  # type: ignore[arg-type]
        data_dir=rig.data_dir,
        has_lens=rig.runner.has_lens(),
    )
    positions = plan.positions()
    per_frame = plan.settle_s + _OVERHEAD_S * plan.shots_per_step
    travel = abs(positions[-1] - positions[0]) if plan.uses_rail else 0.0
    return {
        "frames": len(positions),
        "first": positions[0],
        "last": positions[-1],
        "step_um": round(abs(positions[1] - positions[0]) * 1000.0, 3) if plan.uses_rail else None,
        "estimated_s": round(len(positions) * per_frame + travel / rail.max_speed_mm_s, 1),
        "estimated_bytes": estimate_bytes(plan, tuple(size)),  # type: ignore[arg-type]
    }
