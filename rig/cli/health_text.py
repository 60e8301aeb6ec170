"""The health check's verdict in a few lines, for ``macrorig stack`` and ``macrorig
trigger --wait``.  Works on the JSON (report.json's ``health``), so the trigger needs
nothing but the HTTP answer."""

from __future__ import annotations

from typing import Any


def summary_lines(health: dict[str, Any], limit: int = 5) -> list[str]:
    """``health: ok`` or the status and the worst findings, one line each."""
    findings = health.get("findings", [])
    if health.get("status") == "ok":
        notes = len(findings)
        extra = f" ({notes} note{'s' if notes != 1 else ''})" if notes else ""
        return [f"health: ok{extra}"]
    problems = health.get("problems", 0)
    lines = [f"health: {health.get('status')} ({problems} problem{'s' if problems != 1 else ''})"]
    for f in findings[:limit]:
        lines.append(f"  {f['severity']}: {f['summary']} — {f['advice']}")
    if len(findings) > limit:
        lines.append(f"  … and {len(findings) - limit} more in the report")
    return lines
