"""Findings as JSON: the ``health`` object of report.json, the API and the events (the
lines people read are made from it by ``rig.cli.health_text``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from stacker.health.findings import Finding, Health


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
