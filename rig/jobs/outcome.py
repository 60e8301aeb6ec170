"""How a job's run ended, and what that makes of the job: one table.

The parts of a run raise :class:`JobEnded` with an :class:`Outcome` (capture stopped on
request, a device failed, the disk filled up…); the runner looks the outcome up in
:data:`ENDINGS` for the job's final state and the message it keeps.  A new way for a
job to end is one member and one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from rig.jobs.state import JobState


class Outcome(Enum):
    DONE = auto()
    CANCELLED = auto()
    STOPPED_CAPTURING = auto()  # the daemon was stopped during the capture
    STOPPED_STACKING = auto()  # … or while it fused the frames
    DISK_FULL = auto()
    DEVICE_FAILED = auto()  # rail, camera or lens, for good
    RAIL_BUSY = auto()  # a manual move never let go of the rail
    NO_HARDWARE = auto()
    STACKING_FAILED = auto()
    BUG = auto()


@dataclass(frozen=True)
class Ending:
    state: JobState
    message: str | None  # the job's ``error``; ``{detail}`` is filled in


ENDINGS: dict[Outcome, Ending] = {
    Outcome.DONE: Ending(JobState.DONE, None),
    Outcome.CANCELLED: Ending(JobState.CANCELLED, None),
    Outcome.STOPPED_CAPTURING: Ending(
        JobState.INTERRUPTED, "the daemon was stopped during this job"
    ),
    Outcome.STOPPED_STACKING: Ending(
        JobState.INTERRUPTED, "the daemon was stopped while this job stacked"
    ),
    Outcome.DISK_FULL: Ending(
        JobState.FAILED,
        "the disk is full: {detail} frames were saved and kept "
        "(free some space, then resume or restack)",
    ),
    Outcome.DEVICE_FAILED: Ending(JobState.FAILED, "{detail}"),
    Outcome.RAIL_BUSY: Ending(JobState.FAILED, "the rail stayed busy with a manual move"),
    Outcome.NO_HARDWARE: Ending(JobState.FAILED, "the rig's hardware is not available: {detail}"),
    Outcome.STACKING_FAILED: Ending(JobState.FAILED, "stacking failed: {detail}"),
    Outcome.BUG: Ending(JobState.FAILED, "internal error: {detail}"),
}


class JobEnded(Exception):
    """Ends a job's run early: how (``outcome``) and the particulars (``detail``)."""

    def __init__(self, outcome: Outcome, detail: str = "") -> None:
        self.outcome = outcome
        self.detail = detail
        super().__init__(f"{outcome.name.lower()}: {detail}" if detail else outcome.name.lower())


class CaptureFailed(JobEnded):
    """A device failed for good during the capture (the detail says which and why)."""

    def __init__(self, detail: str) -> None:
        super().__init__(Outcome.DEVICE_FAILED, detail)


def ending(outcome: Outcome, detail: str = "") -> tuple[JobState, str | None]:
    """The job's final state and error message for this outcome."""
    row = ENDINGS[outcome]
    return row.state, None if row.message is None else row.message.format(detail=detail)
