"""From the per-frame curves (and the plan, when known) to findings: a pure function.

Every finding is measured against the stack itself — a frame against its neighbours, a
pair of frames against the other pairs — with robust estimates (median, MAD), and a
floor in the user's terms (a few percent of light, a fraction of the frame) so that a
perfectly steady stack's tiny wobbles never read as faults.  Causes are tried from the
most specific: frames taken out of order, then focus gaps, then range, light, motion;
vibration last, for what none of them explains.
"""

from __future__ import annotations

from stacker.health.detectors import DETECTORS
from stacker.health.findings import SEVERITIES, Health, PlanInfo
from stacker.health.series import Series
from stacker.health.stack_view import StackView


def assess(series: Series, plan: PlanInfo | None = None) -> Health:
    view = StackView(series, plan or PlanInfo())
    findings = [finding for detect in DETECTORS for finding in detect(view)]
    findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.frames))
    return Health(findings, view.chart())
