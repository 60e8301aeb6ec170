"""Stack plans: where to take frames, how, and what to make of them.

A plan is a pydantic model, so the web API, presets and the job store all speak the
same validated JSON.  Positions are derived here (the last step is shortened, never
overshooting the end); checks that need the rig — soft limits, free disk — are in
:func:`check_plan`, with messages that say what to change.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stacker.methods import DEFAULT_METHOD, MethodName

MIN_FRAMES, MAX_FRAMES = 2, 5000
MIN_STEP_UM = 0.1  # no rail resolves less; the rig's own microstep is checked in preflight
MAX_COLOUR_GAIN = 32.0  # as the camera route takes them
WAVELENGTH_UM = 0.55  # green light: the usual reference for diffraction
# Bytes a stored frame takes per pixel, by format (JPEG q95 of a busy macro frame stays
# well under 1 byte/pixel; PNG of 8-bit RGB about 2; uncompressed 16-bit TIFF 6).
_BYTES_PER_PIXEL = {"jpg": 1.0, "png": 2.5, "tif": 6.0}
# Safety margin on the estimate, plus room the system needs to keep working (at most
# this much, or a twentieth of a small disk).
_DISK_MARGIN = 1.2
_DISK_RESERVE = 200 * 1024 * 1024

Finite = Annotated[float, Field(allow_inf_nan=False)]
# Rail positions: any sane rail is shorter than a metre (soft limits narrow it further).
Position = Annotated[float, Field(ge=-1000, le=1000, allow_inf_nan=False)]
OutputFormat = Literal["jpg", "tif", "png"]


class PlanError(ValueError):
    """A plan that cannot be run here; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Exposure(BaseModel):
    """``auto``: let the camera settle at the start position with the light on, then fix
    those values for the whole stack.  ``fixed``: use the given values."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "fixed"] = "auto"
    exposure_us: Annotated[int, Field(gt=0, le=60_000_000)] | None = None
    analogue_gain: Annotated[float, Field(ge=1.0, le=64.0, allow_inf_nan=False)] | None = None
    colour_gains: (
        tuple[
            Annotated[float, Field(gt=0, le=MAX_COLOUR_GAIN, allow_inf_nan=False)],
            Annotated[float, Field(gt=0, le=MAX_COLOUR_GAIN, allow_inf_nan=False)],
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _fixed_needs_values(self) -> Exposure:
        if self.mode == "fixed" and (self.exposure_us is None or self.analogue_gain is None):
            raise ValueError("fixed exposure needs exposure_us and analogue_gain")
        if self.colour_gains is not None and min(self.colour_gains) <= 0:
            raise ValueError("colour_gains must be positive (red, blue)")
        return self


class LensSweep(BaseModel):
    """Camera Module 3 focus bracketing without a rail: lens positions in dioptres."""

    model_config = ConfigDict(extra="forbid")

    start_dioptres: Annotated[float, Field(ge=0, le=32, allow_inf_nan=False)]
    end_dioptres: Annotated[float, Field(ge=0, le=32, allow_inf_nan=False)]
    count: Annotated[int, Field(ge=MIN_FRAMES, le=MAX_FRAMES)]

    def positions(self) -> list[float]:
        span = self.end_dioptres - self.start_dioptres
        return [self.start_dioptres + span * i / (self.count - 1) for i in range(self.count)]


class StackPlan(BaseModel):
    """One focus stack.  Give ``step_um`` or ``count`` (the other is derived); or
    ``lens`` instead of a rail range."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=80)] = ""
    start_mm: Position | None = None
    end_mm: Position | None = None
    step_um: Annotated[float, Field(ge=MIN_STEP_UM, le=50_000, allow_inf_nan=False)] | None = None
    count: Annotated[int, Field(ge=MIN_FRAMES, le=MAX_FRAMES)] | None = None
    lens: LensSweep | None = None
    settle_s: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 0.5
    shots_per_step: Annotated[int, Field(ge=1, le=16)] = 1
    led_level: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0
    exposure: Exposure = Exposure()
    return_to_start: bool = True
    method: MethodName = DEFAULT_METHOD
    outputs: list[OutputFormat] = Field(default_factory=lambda: list[OutputFormat](["jpg"]))
    depth_map: bool = True
    frame_format: Literal["jpg", "png", "tif"] = "jpg"

    @field_validator("outputs")
    @classmethod
    def _some_output(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one output format (jpg, tif or png)")
        return sorted(set(v), key=v.index)

    @model_validator(mode="after")
    def _one_way_to_move(self) -> StackPlan:
        if self.lens is not None:
            if self.start_mm is not None or self.end_mm is not None:
                raise ValueError("give either a rail range (start_mm, end_mm) or lens, not both")
            return self
        if self.start_mm is None or self.end_mm is None:
            raise ValueError("give start_mm and end_mm (or lens for a Camera Module 3 sweep)")
        if abs(self.end_mm - self.start_mm) * 1000.0 < MIN_STEP_UM * (1 - 1e-6):
            raise ValueError(
                f"start_mm and end_mm are the same position (less than {MIN_STEP_UM:g} µm "
                "apart): nothing to stack"
            )
        if (self.step_um is None) == (self.count is None):
            raise ValueError("give either step_um or count (the other is derived), not both")
        if self.step_um is not None:
            n = _count_for_step(abs(self.end_mm - self.start_mm), self.step_um)
            if n > MAX_FRAMES:
                raise ValueError(f"step_um {self.step_um:g} gives {n} frames; at most {MAX_FRAMES}")
        return self

    @property
    def uses_rail(self) -> bool:
        return self.lens is None

    @property
    def focus_axis(self) -> str:
        """What the stack steps: a key of :data:`rig.jobs.focus.FOCUS_AXES`."""
        return "rail" if self.uses_rail else "lens"

    def positions(self) -> list[float]:
        """Rail positions (mm) or lens positions (dioptres), in capture order."""
        if self.lens is not None:
            return self.lens.positions()
        assert self.start_mm is not None and self.end_mm is not None
        start, end = self.start_mm, self.end_mm
        distance = abs(end - start)
        direction = 1.0 if end > start else -1.0
        if self.count is not None:
            step = distance / (self.count - 1)
            return [start + direction * step * i for i in range(self.count - 1)] + [end]
        assert self.step_um is not None
        step_mm = self.step_um / 1000.0
        n = _count_for_step(distance, self.step_um)
        # Whole steps from the start; the last one is shorter and lands on the end.
        return [start + direction * step_mm * i for i in range(n - 1)] + [end]

    @property
    def frame_count(self) -> int:
        return len(self.positions())


def _count_for_step(distance_mm: float, step_um: float) -> int:
    steps = distance_mm * 1000.0 / step_um
    return max(MIN_FRAMES, math.ceil(steps - 1e-9) + 1)


def check_plan(
    plan: StackPlan,
    *,
    soft_limits: tuple[float, float],
    frame_size: tuple[int, int],
    data_dir: Path,
    has_lens: bool = False,
    microstep_mm: float | None = None,
    committed_bytes: int = 0,
) -> None:
    """Refuse a plan this rig cannot run: outside the soft limits, steps finer than the
    rail's ``microstep_mm``, no focus motor for a lens sweep, or not enough disk for its
    frames and results beside what the jobs already queued will take
    (``committed_bytes``).  Raises PlanError."""
    problems: list[str] = []
    lo, hi = soft_limits
    if plan.uses_rail:
        assert plan.start_mm is not None and plan.end_mm is not None
        for key, value in (("start_mm", plan.start_mm), ("end_mm", plan.end_mm)):
            if not lo <= value <= hi:
                problems.append(
                    f"{key} {value:g} mm is outside the rail's soft limits ({lo:g}–{hi:g} mm)"
                )
        problems += _resolution_problems(plan, microstep_mm)
    elif not has_lens:
        problems.append("this camera has no focus motor: use start_mm/end_mm with the rail")
    needed = estimate_bytes(plan, frame_size)
    usage = shutil.disk_usage(data_dir)
    reserve = min(_DISK_RESERVE, usage.total // 20)
    if needed + committed_bytes + reserve > usage.free:
        queued = f", the stacks already queued need {_size(committed_bytes)}"
        problems.append(
            f"not enough disk space: this stack needs about {_size(needed)}"
            f"{queued if committed_bytes else ''} and {_size(usage.free)} is free in "
            f"{data_dir} (delete old jobs or take fewer frames)"
        )
    if problems:
        raise PlanError(problems)


def _resolution_problems(plan: StackPlan, microstep_mm: float | None) -> list[str]:
    """Steps the rail cannot resolve: two frames would be taken at the same place."""
    if microstep_mm is None:
        return []
    positions = plan.positions()
    step_mm = abs(positions[1] - positions[0])
    if step_mm >= microstep_mm * (1 - 1e-9):
        return []
    return [
        f"a step of {step_mm * 1000:.3g} µm is finer than this rail can move: its smallest "
        f"step is {microstep_mm * 1000:.3g} µm (one microstep); take fewer frames or a "
        "longer range"
    ]


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def estimate_bytes(
    plan: StackPlan, frame_size: tuple[int, int], frames_to_take: int | None = None
) -> int:
    """Frames (``frames_to_take``, default all of the plan's), results and depth map,
    with a margin."""
    pixels = frame_size[0] * frame_size[1]
    count = plan.frame_count if frames_to_take is None else frames_to_take
    frames = count * pixels * _BYTES_PER_PIXEL[plan.frame_format]
    results = sum(pixels * _BYTES_PER_PIXEL[fmt] for fmt in plan.outputs) + pixels
    return int((frames + results) * _DISK_MARGIN)


def depth_of_field_um(
    magnification: float, f_number: float, wavelength_um: float = WAVELENGTH_UM
) -> float:
    """Wave-optics depth of field at the subject: 4·λ·N_eff²/m², N_eff = N·(1+m)."""
    if not (0.01 <= magnification <= 100 and 0.5 <= f_number <= 128 and 0.1 <= wavelength_um <= 10):
        raise ValueError(
            "magnification must be 0.01–100, f-number 0.5–128 and wavelength 0.1–10 µm"
        )
    n_eff = f_number * (1.0 + magnification)
    return 4.0 * wavelength_um * n_eff**2 / magnification**2


def recommended_step_um(
    magnification: float,
    f_number: float,
    overlap: float = 0.7,
    wavelength_um: float = WAVELENGTH_UM,
) -> float:
    """Step between frames: ``overlap`` × the depth of field (0.7 keeps focus bands
    overlapping, so no banding between frames)."""
    if not 0 < overlap <= 1:
        raise ValueError("overlap is a fraction of the depth of field, between 0 and 1")
    return overlap * depth_of_field_um(magnification, f_number, wavelength_um)
