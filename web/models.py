"""Request and response bodies of the HTTP API (pydantic, so /docs shows them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rig.jobs.schedule import MAX_EVERY_MIN, MAX_TIMES, MIN_EVERY_MIN, unbounded_problem
from rig.jobs.view import JobView
from rig.plan import StackPlan
from stacker.methods import MethodName

Finite = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobRequest(Strict):
    """Start a stack: a full ``plan``, or the name of a saved ``preset``."""

    plan: StackPlan | None = None
    preset: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    callback_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s]+$")] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> JobRequest:
        if (self.plan is None) == (self.preset is None):
            raise ValueError("give either plan or preset")
        return self


class RestackRequest(Strict):
    method: MethodName | None = None


class JobOut(JobView):
    """The job resource: the rig's view of the job plus where to fetch its parts."""

    urls: dict[str, str]


class Distance(Strict):
    mm: Annotated[float, Field(allow_inf_nan=False, ge=-1000, le=1000)]


class ExposureRequest(Strict):
    mode: Literal["auto", "lock", "fixed"]
    exposure_us: Annotated[int, Field(gt=0, le=60_000_000)] | None = None
    gain: Annotated[float, Field(ge=1.0, le=64.0, allow_inf_nan=False)] | None = None
    colour_gains: (
        tuple[
            Annotated[float, Field(gt=0, le=32, allow_inf_nan=False)],
            Annotated[float, Field(gt=0, le=32, allow_inf_nan=False)],
        ]
        | None
    ) = None


class LightRequest(Strict):
    level: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class DofRequest(Strict):
    magnification: Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False)]
    f_number: Annotated[float, Field(ge=0.5, le=128, allow_inf_nan=False)]
    wavelength_um: Annotated[float, Field(gt=0.2, le=2.0, allow_inf_nan=False)] = 0.55
    overlap: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.7


class PresetIn(Strict):
    plan: StackPlan


class ScheduleIn(Strict):
    """Repeat ``preset`` every ``every_min`` minutes, ``times`` times and/or until
    ``until`` (epoch seconds), starting at ``start_at`` (default: now)."""

    preset: Annotated[str, Field(min_length=1, max_length=80)]
    every_min: Annotated[float, Field(ge=MIN_EVERY_MIN, le=MAX_EVERY_MIN, allow_inf_nan=False)]
    times: Annotated[int, Field(ge=1, le=MAX_TIMES)] | None = None
    until: Finite | None = None
    start_at: Finite | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ScheduleIn:
        problem = unbounded_problem(self.times, self.until)
        if problem:
            raise ValueError(problem)
        return self


class SchedulePatch(Strict):
    enabled: bool


class Login(Strict):
    secret: Annotated[str, Field(min_length=1, max_length=512)]
