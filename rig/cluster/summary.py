"""The table at the end of ``macrorig restack``: one row per stack, as CSV and (when
pyarrow is installed) Parquet, plus a short text version for the terminal."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rig.cluster.dispatch import StackOutcome
from stacker.io import atomic_output

COLUMNS = (
    "job",
    "frames",
    "method",
    "seconds",
    "peak_mb",
    "health",
    "status",
    "worker",
    "folder",
    "error",
)


def rows(outcomes: Sequence[StackOutcome]) -> list[dict[str, Any]]:
    table = []
    for o in outcomes:
        result, earlier = o.result, o.previous or {}
        table.append(
            {
                "job": o.task.name,
                "frames": len(o.task.frames),
                "method": o.task.method,
                "seconds": result.seconds if result else earlier.get("seconds"),
                "peak_mb": result.peak_rss_mb if result else earlier.get("peak_rss_mb"),
                "health": result.health if result else earlier.get("health"),
                "status": o.status,
                "worker": result.worker if result else earlier.get("worker"),
                "folder": o.task.out_dir,
                "error": o.error,
            }
        )
    return table


def write_summary(outcomes: Sequence[StackOutcome], csv_path: Path) -> list[Path]:
    """Write the CSV (and the Parquet beside it if pyarrow is there): the files written."""
    table = rows(outcomes)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    with atomic_output(csv_path) as tmp:
        tmp.write_text(text.getvalue(), encoding="utf-8")
    written = [csv_path]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    parquet_path = csv_path.with_suffix(".parquet")
    with atomic_output(parquet_path) as tmp:
        pq.write_table(pa.Table.from_pylist(table), tmp)
    written.append(parquet_path)
    return written


def format_table(outcomes: Sequence[StackOutcome]) -> str:
    """The summary as aligned text columns (without the folder)."""
    shown = ("job", "frames", "method", "seconds", "peak_mb", "health", "status")
    table = rows(outcomes)
    cells = [list(shown)] + [["" if r[c] is None else str(r[c]) for c in shown] for r in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(shown))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    for r in table:
        if r["error"]:
            lines.append(f"{r['job']}: {r['error']}")
    return "\n".join(line.rstrip() for line in lines)
