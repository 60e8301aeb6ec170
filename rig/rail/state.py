"""The rail's position on disk, written atomically so a crash never leaves half a file.

The file also records whether the last session ended cleanly: it is written
with ``clean = false`` as soon as a rail opens and ``clean = true`` only by
:meth:`FocusRail.close`, so the next start can tell an unclean stop and treat
the position as unknown.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from rig.durable import write_json_atomic

FORMAT_VERSION = 1


@dataclass(frozen=True)
class RailState:
    position_steps: int
    known: bool
    clean: bool
    steps_per_mm: float


def load_state(path: Path) -> RailState | None:
    """The saved state, or ``None`` when there is none (or it is unreadable)."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("version") != FORMAT_VERSION:
            return None
        return RailState(
            position_steps=int(raw["position_steps"]),
            known=bool(raw["known"]),
            clean=bool(raw["clean"]),
            steps_per_mm=float(raw["steps_per_mm"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_state(path: Path, state: RailState) -> None:
    """Write ``state`` atomically (a full disk raises :class:`DiskFull`)."""
    write_json_atomic(path, {"version": FORMAT_VERSION, **asdict(state)})
