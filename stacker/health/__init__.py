"""The stack health check: what went wrong in a stack, which frames, and what to change.

``record`` keeps a few numbers and a coarse sharpness grid per frame as the stream sees
it (the stream's one hook); ``series`` turns those records into per-frame curves (focus
response, light, shift, magnification); ``assess`` is a pure function from them (and the
plan, when known) to findings (``findings``): it runs the ``detectors``, one module per
kind of finding, over a ``stack_view``; ``report`` renders findings as JSON.
"""

from __future__ import annotations

from stacker.health.assess import assess
from stacker.health.findings import Box, Finding, Health, PlanInfo
from stacker.health.record import HealthRecorder
from stacker.health.report import health_json, summary_json
from stacker.health.series import build


def check(recorder: HealthRecorder, plan: PlanInfo | None = None) -> Health:
    """The findings for what ``recorder`` saw (a stream's ``health``)."""
    if not recorder.frames or recorder.size is None:
        return Health([])
    return assess(build(recorder.frames, recorder.size), plan)


__all__ = [
    "Box",
    "Finding",
    "Health",
    "HealthRecorder",
    "PlanInfo",
    "assess",
    "check",
    "health_json",
    "summary_json",
]
