"""The rail's position: whole steps, whether they are known, and the file that keeps them.

Position is *known* after homing or :meth:`~rig.rail.StepperRail.set_position`,
and becomes *unknown* after an unclean shutdown, a limit switch hit outside
homing, a cut pulse train, or when the driver is disabled off a full step.
Nothing here saves by itself: the rail decides when (see :meth:`RailPosition.save`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from rig.rail.state import RailState, load_state, save_state

log = logging.getLogger(__name__)


class RailPosition:
    """Where the carriage is, in steps, and whether we know it.

    Not thread-safe by itself: every change happens under the rail's lock.

    :param steps_per_mm: the rail's mechanics now (a saved position taken with
        other mechanics is rescaled and marked unknown).
    :param state_path: JSON file keeping the position between runs (``None``:
        nothing persisted, the position starts unknown).
    """

    def __init__(self, steps_per_mm: float, state_path: Path | None = None) -> None:
        self.steps_per_mm = steps_per_mm
        self._state_path = state_path
        self.steps, self.known = self._restore()

    @property
    def mm(self) -> float:
        return self.steps / self.steps_per_mm

    def set(self, steps: int, *, known: bool) -> None:
        self.steps = steps
        self.known = known

    def advance(self, delta: int, *, exact: bool) -> None:
        """Account for ``delta`` emitted steps; an inexact count loses the position."""
        self.steps += delta
        if not exact:
            self.known = False

    def forget(self) -> None:
        self.known = False

    def save(self, *, clean: bool) -> None:
        """Write the position atomically; ``clean`` only for an orderly close.

        A full disk raises :class:`~rig.durable.DiskFull`.
        """
        if self._state_path is not None:
            state = RailState(self.steps, self.known, clean, self.steps_per_mm)
            save_state(self._state_path, state)

    def _restore(self) -> tuple[int, bool]:
        if self._state_path is None:
            return 0, False
        saved = load_state(self._state_path)
        if saved is None:
            return 0, False
        if abs(saved.steps_per_mm - self.steps_per_mm) > 1e-9:
            log.warning("rail mechanics changed since the position was saved: position unknown")
            return round(saved.position_steps * self.steps_per_mm / saved.steps_per_mm), False
        if not saved.clean:
            log.warning("the rail was not shut down cleanly: position unknown until homed")
            return saved.position_steps, False
        return saved.position_steps, saved.known
