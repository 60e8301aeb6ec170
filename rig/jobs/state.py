"""A job's states and the rules about them — the one place they are written down.

The store enforces :data:`TRANSITIONS` when it changes a state (check and write in one
transaction); the job resource carries :attr:`JobState.final` and
:attr:`JobState.resumable` so that no client re-codes them.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Str-valued: the database, JSON and events hold the plain names."""

    QUEUED = "queued"
    RUNNING = "running"  # capturing (and fusing alongside)
    STACKING = "stacking"  # the capture is over (or a restack): fusing the rest
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the daemon stopped during the job

    @property
    def active(self) -> bool:
        """Waiting or running: it cannot be deleted, resumed or restacked yet."""
        return self in _ACTIVE

    @property
    def final(self) -> bool:
        """It will not change by itself any more."""
        return not self.active

    @property
    def resumable(self) -> bool:
        """It may go back to the queue and continue where it stopped."""
        return self in _RESUMABLE

    def may_become(self, new: JobState) -> bool:
        return new in TRANSITIONS[self]


_ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.STACKING})
# Ended without a result: each may go back to the queue (resume).
_RESUMABLE = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    # The runner starts a stack (running) or a restack (stacking); a cancel, or a job
    # that cannot start (no hardware), ends it before it runs.
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.STACKING, *_RESUMABLE}),
    JobState.RUNNING: frozenset({JobState.STACKING, *_RESUMABLE}),
    JobState.STACKING: frozenset({JobState.DONE, *_RESUMABLE}),
    JobState.DONE: frozenset(),
    **{state: frozenset({JobState.QUEUED}) for state in _RESUMABLE},
}
