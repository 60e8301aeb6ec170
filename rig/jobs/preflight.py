"""Will a plan run on this rig, and what will it take?  The checks a stack must pass
before it is queued, and the estimates the plan form shows (frames, time, disk)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rig.config import Config
from rig.plan import StackPlan, check_plan, estimate_bytes

# Rough time a shot takes beyond settling: the move, the exposure, saving the frame.
FRAME_OVERHEAD_S = 0.6


@dataclass(frozen=True)
class RigLimits:
    """What a plan is checked against."""

    soft_limits: tuple[float, float]
    frame_size: tuple[int, int]
    max_speed_mm_s: float
    data_dir: Path
    microstep_mm: float | None = None  # the rail's smallest step
    queue_max: int = 20

    @classmethod
    def of(cls, config: Config, simulate: bool) -> RigLimits:
        size = config.sim.resolution if simulate else config.camera.resolution
        return cls(
            soft_limits=(config.rail.soft_min_mm, config.rail.soft_max_mm),
            frame_size=(int(size[0]), int(size[1])),
            max_speed_mm_s=float(config.rail.max_speed_mm_s),
            data_dir=config.data_dir,
            microstep_mm=1.0 / config.rail.steps_per_mm,
            queue_max=config.jobs.queue_max,
        )


@dataclass(frozen=True)
class PlanEstimate:
    frames: int
    first: float
    last: float
    step_um: float | None  # rail plans only
    estimated_s: float
    estimated_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def preflight(
    plan: StackPlan, limits: RigLimits, *, has_lens: bool, committed_bytes: int = 0
) -> PlanEstimate:
    """Refuse a plan this rig cannot run (:class:`~rig.plan.PlanError`, one line per
    problem) — the disk it needs counted beside ``committed_bytes`` (what the jobs
    already queued will write); otherwise what it will take."""
    check_plan(
        plan,
        soft_limits=limits.soft_limits,
        frame_size=limits.frame_size,
        data_dir=limits.data_dir,
        has_lens=has_lens,
        microstep_mm=limits.microstep_mm,
        committed_bytes=committed_bytes,
    )
    positions = plan.positions()
    step_um = abs(positions[1] - positions[0]) * 1000.0 if plan.uses_rail else None
    return PlanEstimate(
        frames=len(positions),
        first=positions[0],
        last=positions[-1],
        step_um=None if step_um is None else round(step_um, 3),
        estimated_s=round(estimate_seconds(plan, limits.max_speed_mm_s), 1),
        estimated_bytes=estimate_bytes(plan, limits.frame_size),
    )


def estimate_seconds(plan: StackPlan, max_speed_mm_s: float) -> float:
    """How long the capture should take: settle and shots per frame, plus the travel."""
    positions = plan.positions()
    per_frame = plan.settle_s + FRAME_OVERHEAD_S * plan.shots_per_step
    travel = abs(positions[-1] - positions[0]) if plan.uses_rail else 0.0
    return len(positions) * per_frame + travel / max_speed_mm_s
