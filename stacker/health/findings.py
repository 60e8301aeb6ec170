"""What the health check reports: findings (kind, severity, frames, what was measured,
what to change), the plan it knows, and the verdict over them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["order", "skipped", "focus_gap", "range", "light", "motion", "vibration"]
Severity = Literal["info", "warning", "bad"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "bad")

# How far (in robust σ of the stack's own spread) a frame or a pair must stand out.
OUTLIER_Z = 6.0


@dataclass(frozen=True)
class Box:
    """A region of the frame, as fractions of its width and height."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Finding:
    kind: Kind
    severity: Severity
    frames: tuple[int, ...]
    summary: str  # what was measured, one line
    advice: str  # what to change, in the user's terms
    value: float
    unit: str
    region: Box | None = None  # None: the whole frame


@dataclass(frozen=True)
class PlanInfo:
    """What the plan said, when the stack came from one."""

    positions: Sequence[float] | None = None  # focus positions in capture order
    unit: Literal["mm", "dioptres"] = "mm"
    settle_s: float | None = None


@dataclass
class Health:
    findings: list[Finding]
    frames: list[dict[str, float | None]] = field(default_factory=list)  # chart data

    @property
    def status(self) -> Literal["ok", "warnings", "bad"]:
        severities = {f.severity for f in self.findings}
        return "bad" if "bad" in severities else "warnings" if "warning" in severities else "ok"

    @property
    def problems(self) -> int:
        """Findings that are more than information."""
        return sum(1 for f in self.findings if f.severity != "info")
