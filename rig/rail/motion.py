"""How a rail moves: targets into legs, legs into pulses, every emitted step accounted for.

:class:`RailMotion` is the rail's motion collaborator.  It checks the soft
limits and the switches before anything moves, turns a target into legs (the
last approaching from the configured side), runs each leg on the pulse
back-end and keeps the :class:`~rig.rail.position.RailPosition` exact, also
while a leg runs (:meth:`RailMotion.live_steps`).  Stops come from other
threads: :meth:`RailMotion.stop` decelerates along the ramp,
:meth:`RailMotion.emergency_stop` and a limit switch ahead abort at once.

It does not decide when the driver is powered or when the position is saved:
the rail does, and hands in ``engage`` (power the driver for motion).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from rig.rail.errors import LimitSwitchError
from rig.rail.geometry import RailGeometry
from rig.rail.position import RailPosition
from rig.rail.profile import plan_move
from rig.rail.pulses import MoveControl, RunResult, StepPulser
from rig.rail.switches import LimitSwitch


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


class RailMotion:
    """Runs moves and legs of one rail.

    The moving methods expect the caller to hold the rail's operation lock (one
    at a time); the stops may come from any thread.

    :param geometry: steps, soft limits and approach legs of the rail.
    :param position: the rail's position, changed only under ``lock``.
    :param pulser: the STEP/DIR back-end.
    :param switches: the ``"min"`` and ``"max"`` limit switches (``None``: not fitted);
        a pressed switch aborts a leg heading into it.
    :param lock: the rail's lock, guarding the position and the running leg.
    :param engage: powers the driver for motion (called before the first step).
    """

    def __init__(
        self,
        geometry: RailGeometry,
        position: RailPosition,
        pulser: StepPulser,
        switches: dict[str, LimitSwitch | None],
        *,
        lock: threading.RLock,
        engage: Callable[[], None],
    ) -> None:
        self.geometry = geometry
        self.position = position
        self.engage = engage
        self.late_steps = 0  # steps fired late enough to re-base the schedule, ever
        self._pulser = pulser
        self._lock = lock
        self._stop_event = threading.Event()
        self._emergency_event = threading.Event()
        self._control: MoveControl | None = None  # the running leg
        self._direction = 0  # of the running leg
        self._switches = switches
        for side, switch in switches.items():
            if switch is not None:
                switch.when_triggered = self._abort_toward(side)

    # -- state -------------------------------------------------------------

    def live_steps(self) -> int:
        """The position in steps, following a leg while it runs."""
        with self._lock:
            control = self._control
            if control is None:
                return self.position.steps
            return self.position.steps + self._direction * control.emitted

    def switch_triggered(self, side: str) -> bool | None:
        """Whether the ``"min"``/``"max"`` switch is pressed (``None``: not fitted)."""
        switch = self._switches[side]
        return None if switch is None else switch.triggered

    # -- stopping (any thread) ---------------------------------------------

    def clear_stops(self) -> None:
        """Forget earlier stop requests: a new operation begins."""
        self._stop_event.clear()
        self._emergency_event.clear()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` or :meth:`emergency_stop` was called since :meth:`clear_stops`."""
        return self._stop_event.is_set() or self._emergency_event.is_set()

    def stop(self) -> None:
        """Decelerate the running leg along its ramp; the count stays exact."""
        self._stop_event.set()

    def emergency_stop(self) -> None:
        """Stop the running leg at once (no ramp)."""
        with self._lock:
            self._emergency_event.set()
            if self._control is not None:
                self._control.abort()

    def _abort_toward(self, side: str) -> Callable[[], None]:
        """The ``side`` switch's ``when_triggered``: abort a leg heading into it."""
        toward = 1 if side == "max" else -1

        def triggered() -> None:
            with self._lock:
                if self._control is not None and self._direction == toward:
                    self._control.abort()

        return triggered

    # -- moving ------------------------------------------------------------

    def move(self, target: int) -> MoveResult:
        """Move to ``target`` steps (soft limits checked when the position is known)."""
        start = self.position.steps
        if self.position.known:
            self.geometry.check_soft_limits(target)
        if target == start:
            return self.result(target, 0, False, 0)
        direction = 1 if target > start else -1
        self._refuse_into_switch(direction)
        emitted = late = 0
        stopped = False
        self.engage()
        for leg in self.geometry.legs(start, target, known=self.position.known):
            result = self.run_leg(leg - self.position.steps, self.geometry.config.max_speed_mm_s)
            emitted += result.emitted
            late += result.late_steps
            if result.stopped or result.aborted:
                stopped = True
                break
        return self.result(target, emitted, stopped, late)

    def run_leg(self, delta: int, speed_mm_s: float, *, expect: str | None = None) -> RunResult:
        """Emit ``delta`` steps at up to ``speed_mm_s`` (used by moves and homing).

        A limit switch ahead aborts the leg.  If it is the ``expect`` ed switch
        (homing) the aborted result is returned; otherwise the position is set
        to the switch, marked unknown, and :class:`LimitSwitchError` raised.
        """
        if delta == 0:
            return RunResult(0, exact=True)
        config = self.geometry.config
        steps_per_mm = self.geometry.steps_per_mm
        direction = 1 if delta > 0 else -1
        side = "max" if direction > 0 else "min"
        ahead = self._switches[side]
        emergency = self._emergency_event

        def should_abort() -> bool:
            return emergency.is_set() or (ahead is not None and ahead.triggered)

        profile = plan_move(
            abs(delta),
            speed_mm_s * steps_per_mm,
            config.accel_mm_s2 * steps_per_mm,
            self._pulser.min_period_ns,
        )
        control = MoveControl(stop_event=self._stop_event, should_abort=should_abort)
        leg_start = self.position.steps
        with self._lock:
            self._control, self._direction = control, direction
        result: RunResult | None = None
        try:
            result = self._pulser.run(profile, (direction > 0) != config.invert_direction, control)
        finally:
            with self._lock:
                emitted = result.emitted if result else control.emitted
                exact = result is not None and result.exact
                self.position.advance(direction * emitted, exact=exact)
                self._control = None
        self.late_steps += result.late_steps
        if result.aborted and ahead is not None and ahead.triggered and expect != side:
            self._limit_hit(side, leg_start + delta, result.emitted)
        return result

    def set_reference(self, steps: int) -> None:
        """The carriage is at ``steps`` for sure (homing found its switch); saved at once."""
        with self._lock:
            self.position.set(steps, known=True)
            self.position.save(clean=False)

    def result(self, target: int, emitted: int, stopped: bool, late: int) -> MoveResult:
        """A :class:`MoveResult` for a move to ``target`` that ends here, now."""
        position = self.position
        return MoveResult(
            target, position.steps, position.steps_per_mm, emitted, stopped, late, position.known
        )

    # -- internals ---------------------------------------------------------

    def _limit_hit(self, side: str, target: int, emitted: int) -> None:
        steps_per_mm = self.geometry.steps_per_mm
        with self._lock:
            self.position.set(self.geometry.switch_position_steps(side), known=False)
            self.position.save(clean=False)
        raise LimitSwitchError(
            f"the limit_{side} switch stopped the rail after {emitted} steps, heading for "
            f"{target / steps_per_mm:.3f} mm; position set to the switch "
            f"({self.position.mm:.3f} mm) and marked unknown: home the rail"
        )

    def _refuse_into_switch(self, direction: int) -> None:
        side = "max" if direction > 0 else "min"
        if self.switch_triggered(side):
            raise LimitSwitchError(
                f"the limit_{side} switch is pressed: cannot move further that way; nothing moved"
            )
