"""Findings for machines (the ``health`` object of report.json, the API, events) and for
people (the few lines ``macrorig stack`` and ``macrorig trigger --wait`` print)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from stacker.health.assess import Finding, Health


def finding_json(finding: Finding) -> dict[str, Any]:
    out = asdict(finding)
    out["frames"] = list(finding.frames)
    return out


def health_json(health: Health) -> dict[str, Any]:
    return {
        "status": health.status,
        "problems": health.problems,
        "findings": [finding_json(f) for f in health.findings],
        "frames": health.frames,
    }


def summary_json(health: dict[str, Any] | None) -> dict[str, Any] | None:
    """The short form a job carries: status and how many problems."""
    if health is None:
        return None
    return {"status": health["status"], "problems": health["problems"]}


def summary_lines(health: dict[str, Any], limit: int = 5) -> list[str]:
    """``health: ok`` or the status and the worst findings, one line each."""
    findings = health.get("findings", [])
    if health["status"] == "ok":
        extra = f" ({len(findings)} note{'s' if len(findings) != 1 else ''})" if findings else ""
        return [f"health: ok{extra}"]
    lines = [f"health: {health['status']} ({health['problems']} problem(s))"]
    for f in findings[:limit]:
        lines.append(f"  {f['severity']}: {f['summary']} — {f['advice']}")
    if len(findings) > limit:
        lines.append(f"  … and {len(findings) - limit} more in the report")
    return lines
