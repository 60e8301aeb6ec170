"""What the current job is doing — frame n of N, frames fused, time left — for the
status page and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["capturing", "stacking"]


@dataclass
class Progress:
    job_id: str
    phase: Phase
    frame: int = 0  # frames captured so far
    count: int = 0
    fused: int = 0
    first_frame: tuple[int, float] | None = None  # (frame count, time) when capturing began
    eta_s: float | None = None
    position_mm: float | None = None  # where the rail was for the last frame taken
    preview: bool = False  # the job's preview.jpg (the fused image so far) exists
    stacked_on: str = "here"  # or the Dask scheduler the stacking was handed to

    def captured(self, index: int, now: float, position_mm: float | None = None) -> None:
        """Frame ``index`` is taken (at monotonic time ``now``, the rail at
        ``position_mm``): count it, re-estimate."""
        self.frame = index + 1
        self.position_mm = position_mm
        if self.first_frame is None:  # homing and exposure set-up are not frames
            self.first_frame = (self.frame, now)
            return
        done, since = self.frame - self.first_frame[0], now - self.first_frame[1]
        self.eta_s = since / done * (self.count - self.frame)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "phase": self.phase,
            "frame": self.frame,
            "count": self.count,
            "fused": self.fused,
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "position_mm": None if self.position_mm is None else round(self.position_mm, 4),
            "preview": self.preview,
            "stacked_on": self.stacked_on,
        }
