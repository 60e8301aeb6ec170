"""How a rail moves: geometry, backlash legs, limits, and one leg of pulses.

:class:`RailMotion` is the part of :class:`~rig.rail.base.StepperRail` that
turns a target into legs (the last approaching from the configured side),
checks soft limits and switches before anything moves, runs a leg on the
pulse back-end and accounts for every emitted step.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rig.rail.errors import LimitSwitchError, SoftLimitError
from rig.rail.profile import plan_move
from rig.rail.pulses import MoveControl, RunResult, StepPulser
from rig.rail.switches import LimitSwitch

if TYPE_CHECKING:
    from rig.config import RailConfig


@dataclass(frozen=True)
class MoveResult:
    """Where a move (or homing) ended."""

    target_steps: int
    position_steps: int
    steps_per_mm: float
    steps_emitted: int
    stopped: bool  # ended early: stop(), emergency_stop()
    late_steps: int
    known: bool

    @property
    def position_mm(self) -> float:
        return self.position_steps / self.steps_per_mm

    @property
    def target_mm(self) -> float:
        return self.target_steps / self.steps_per_mm


class RailMotion(ABC):
    """Motion behaviour shared by rails; state lives in :class:`~rig.rail.base.StepperRail`."""

    config: RailConfig
    steps_per_mm: float
    _pulser: StepPulser
    _switches: dict[str, LimitSwitch | None]
    _lock: threading.RLock
    _position: int
    _known: bool
    _control: MoveControl | None
    _direction: int
    _stop_event: threading.Event
    _emergency_event: threading.Event
    _late_steps: int

    @abstractmethod
    def _engage(self) -> None:
        """Enable the driver for motion."""

    @abstractmethod
    def _save(self, *, clean: bool) -> None:
        """Persist the position."""

    # -- geometry ----------------------------------------------------------

    def mm_to_steps(self, mm: float) -> int:
        return round(mm * self.steps_per_mm)

    @property
    def travel_steps(self) -> int:
        return self.mm_to_steps(self.config.travel_mm)

    @property
    def soft_limits_steps(self) -> tuple[int, int]:
        return self.mm_to_steps(self.config.soft_min_mm), self.mm_to_steps(self.config.soft_max_mm)

    def switch_position_steps(self, side: str) -> int:
        """Where the ``"min"`` / ``"max"`` switch triggers: 0 and the travel."""
        return 0 if side == "min" else self.travel_steps

    def _move(self, target: int) -> MoveResult:
        start = self._position
        if self._known:
            self._check_soft_limits(target)
        if target == start:
            return self._result(target, 0, False, 0)
        direction = 1 if target > start else -1
        self._refuse_into_switch(direction)
        emitted = late = 0
        stopped = False
        self._engage()
        for leg in self._legs(start, target):
            result = self.run_leg(leg - self._position, self.config.max_speed_mm_s)
            emitted += result.emitted
            late += result.late_steps
            if result.stopped or result.aborted:
                stopped = True
                break
        return self._result(target, emitted, stopped, late)

    def _legs(self, start: int, target: int) -> list[int]:
        """Targets to visit so the last approach comes from the configured side."""
        approach = 1 if self.config.approach == "forward" else -1
        backlash = self.mm_to_steps(self.config.backlash_mm)
        if backlash == 0 or (target - start) * approach > 0:
            return [target]
        overshoot = target - approach * backlash
        if self._known:
            # Stay inside the soft limits even if that takes up less backlash.
            low, high = self.soft_limits_steps
            overshoot = min(max(overshoot, low), high)
        return [overshoot, target] if overshoot != target else [target]

    def run_leg(self, delta: int, speed_mm_s: float, *, expect: str | None = None) -> RunResult:
        """Emit ``delta`` steps at up to ``speed_mm_s`` (used by moves and homing).

        A limit switch ahead aborts the leg.  If it is the ``expect`` ed switch
        (homing) the aborted result is returned; otherwise the position is set
        to the switch, marked unknown, and :class:`LimitSwitchError` raised.
        """
        if delta == 0:
            return RunResult(0, exact=True)
        direction = 1 if delta > 0 else -1
        side = "max" if direction > 0 else "min"
        ahead = self._switches[side]
        emergency = self._emergency_event

        def should_abort() -> bool:
            return emergency.is_set() or (ahead is not None and ahead.triggered)

        profile = plan_move(
            abs(delta),
            speed_mm_s * self.steps_per_mm,
            self.config.accel_mm_s2 * self.steps_per_mm,
            self._pulser.min_period_ns,
        )
        control = MoveControl(stop_event=self._stop_event, should_abort=should_abort)
        leg_start = self._position
        with self._lock:
            self._control, self._direction = control, direction
        result: RunResult | None = None
        try:
            result = self._pulser.run(
                profile, (direction > 0) != self.config.invert_direction, control
            )
        finally:
            with self._lock:
                self._position += direction * (result.emitted if result else control.emitted)
                self._control = None
                if result is None or not result.exact:
                    self._known = False
        self._late_steps += result.late_steps
        if result.aborted and ahead is not None and ahead.triggered and expect != side:
            self._limit_hit(side, leg_start + delta, result.emitted)
        return result

    def _limit_hit(self, side: str, target: int, emitted: int) -> None:
        with self._lock:
            self._position = self.switch_position_steps(side)
            self._known = False
            self._save(clean=False)
        raise LimitSwitchError(
            f"the limit_{side} switch stopped the rail after {emitted} steps, heading for "
            f"{target / self.steps_per_mm:.3f} mm; position set to the switch "
            f"({self._position / self.steps_per_mm:.3f} mm) and marked unknown: home the rail"
        )

    def _set_reference(self, steps: int) -> None:
        with self._lock:
            self._position = steps
            self._known = True
            self._save(clean=False)

    def _check_soft_limits(self, target: int) -> None:
        low, high = self.soft_limits_steps
        mm = target / self.steps_per_mm
        if target < low:
            raise SoftLimitError(
                f"move to {mm:.3f} mm refused: below the soft limit rail.soft_min_mm = "
                f"{self.config.soft_min_mm:.3f} mm; nothing moved"
            )
        if target > high:
            raise SoftLimitError(
                f"move to {mm:.3f} mm refused: above the soft limit rail.soft_max_mm = "
                f"{self.config.soft_max_mm:.3f} mm; nothing moved"
            )

    def _refuse_into_switch(self, direction: int) -> None:
        side = "max" if direction > 0 else "min"
        switch = self._switches[side]
        if switch is not None and switch.triggered:
            raise LimitSwitchError(
                f"the limit_{side} switch is pressed: cannot move further that way; nothing moved"
            )

    def _result(self, target: int, emitted: int, stopped: bool, late: int) -> MoveResult:
        return MoveResult(
            target, self._position, self.steps_per_mm, emitted, stopped, late, self._known
        )

    def _switch_callback(self, side: str) -> Callable[[], None]:
        toward = 1 if side == "max" else -1

        def triggered() -> None:
            with self._lock:
                if self._control is not None and self._direction == toward:
                    self._control.abort()

        return triggered
