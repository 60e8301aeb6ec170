"""The rail's behaviour over injected parts; :class:`~rig.rail.FocusRail` builds the parts.

Position is whole (micro)steps; millimetres are derived.  It is *known* after
homing or :meth:`StepperRail.set_position`, and becomes *unknown* after an
unclean shutdown, a limit switch hit outside homing, a cut pulse train, or
when the driver is disabled off a full step (an unpowered motor falls to the
nearest full-step detent).  Every operation ends by saving it atomically.

One operation (move, homing) runs at a time; a second one raises
:class:`RailBusy`.  :meth:`stop` from any thread decelerates along the ramp and
keeps the count exact; :meth:`emergency_stop` and the limit switches stop at once.

The parts, each with one job: :class:`~rig.rail.geometry.RailGeometry` (steps,
soft limits, approach legs), :class:`~rig.rail.position.RailPosition` (the
position and its file), :class:`~rig.rail.motion.RailMotion` (running moves on
the pulse back-end), :class:`~rig.rail.power.DriverPower` (when ENABLE is on)
and :func:`~rig.rail.homing.home`.  This class owns the locks and decides when
the driver is released and when the position is saved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.closing import close_all
from rig.rail import homing
from rig.rail.errors import PositionUnknownError, RailBusy, RailClosed
from rig.rail.geometry import RailGeometry
from rig.rail.motion import MoveResult, RailMotion
from rig.rail.position import RailPosition
from rig.rail.power import DriverPower, TimerFactory
from rig.rail.pulses import StepPulser
from rig.rail.switches import LimitSwitch

if TYPE_CHECKING:
    from rig.config import RailConfig

log = logging.getLogger(__name__)


class StepperRail:
    """A focus rail: a stepper on a STEP/DIR/ENABLE driver, optional limit switches."""

    def __init__(
        self,
        config: RailConfig,
        *,
        pulser: StepPulser,
        enable: Any,
        limit_min: LimitSwitch | None = None,
        limit_max: LimitSwitch | None = None,
        state_path: Path | None = None,
        timer_factory: TimerFactory = threading.Timer,
    ) -> None:
        self.config = config
        self.geometry = RailGeometry(config)
        self.steps_per_mm = config.steps_per_mm
        self._pulser = pulser
        self._enable = enable
        self._switches = {"min": limit_min, "max": limit_max}

        self._lock = threading.RLock()  # position, the running leg, driver power
        self._operation_lock = threading.Lock()  # one move/homing at a time
        self._power = DriverPower(
            enable,
            lock=self._lock,
            settle_ns=pulser.timing.enable_settle_ns,
            idle_s=config.idle_disable_s,
            busy=self._operation_lock.locked,
            on_release=self._released,
            timer_factory=timer_factory,
        )
        self._position = RailPosition(self.steps_per_mm, state_path)
        self._motion = RailMotion(
            self.geometry,
            self._position,
            pulser,
            self._switches,
            lock=self._lock,
            engage=self._engage,
        )
        self._busy_with: str | None = None
        self._moved = False  # the running operation has enabled the driver to move
        self._closed = False
        self._position.save(clean=False)

    # -- state -------------------------------------------------------------

    @property
    def position_steps(self) -> int:
        """Current position in steps, following a move while it runs."""
        return self._motion.live_steps()

    @property
    def position_mm(self) -> float:
        return self.position_steps / self.steps_per_mm

    @property
    def known(self) -> bool:
        return self._position.known

    @property
    def state(self) -> str:
        """``"known"`` or ``"unknown"``."""
        return "known" if self.known else "unknown"

    @property
    def enabled(self) -> bool:
        return self._power.enabled

    @property
    def moving(self) -> bool:
        return self._operation_lock.locked()

    @property
    def late_steps(self) -> int:
        """Steps fired late enough to re-base the schedule, since the rail opened."""
        return self._motion.late_steps

    def mm_to_steps(self, mm: float) -> int:
        return self.geometry.mm_to_steps(mm)

    def switch_triggered(self, side: str) -> bool | None:
        """Whether the ``"min"``/``"max"`` switch is pressed (``None``: not fitted)."""
        return self._motion.switch_triggered(side)

    def status(self) -> dict[str, Any]:
        soft_min, soft_max = self.geometry.soft_limits_steps
        return {
            "position_mm": round(self.position_mm, 6),
            "position_steps": self.position_steps,
            "state": self.state,
            "enabled": self._power.enabled,
            "moving": self.moving,
            "busy_with": self._busy_with,
            "steps_per_mm": self.steps_per_mm,
            "soft_limits_mm": [soft_min / self.steps_per_mm, soft_max / self.steps_per_mm],
            "limit_min": self.switch_triggered("min"),
            "limit_max": self.switch_triggered("max"),
            "late_steps": self.late_steps,
        }

    def set_position(self, mm: float) -> None:
        """Declare the carriage to be at ``mm`` (e.g. "zero here" on a rail without switches)."""
        with self._operation("setting the position"), self._lock:
            self._position.set(self.mm_to_steps(mm), known=True)

    # -- motion ------------------------------------------------------------

    def move_to(self, mm: float) -> MoveResult:
        """Move to ``mm`` (needs a known position), finishing from the approach side."""
        return self.move_to_steps(self.mm_to_steps(mm))

    def move_by(self, mm: float) -> MoveResult:
        """Move by ``mm``; allowed with an unknown position (soft limits then unchecked)."""
        return self.move_by_steps(self.mm_to_steps(mm))

    def move_to_steps(self, target: int) -> MoveResult:
        with self._operation("moving"):
            if not self._position.known:
                raise PositionUnknownError(
                    f"cannot move to {target / self.steps_per_mm:.3f} mm: the position is "
                    "unknown (home the rail, or set the position)"
                )
            return self._motion.move(target)

    def move_by_steps(self, delta: int) -> MoveResult:
        with self._operation("moving"):
            return self._motion.move(self._position.steps + delta)

    def home(self) -> MoveResult:
        """Find the homing switch (fast, back off, slow) and park just off it."""
        with self._operation("homing"):
            return homing.home(self._motion)

    def stop(self) -> None:
        """Decelerate the running move along its ramp; the count stays exact."""
        self._motion.stop()

    def emergency_stop(self) -> None:
        """Stop the running move at once (no ramp)."""
        self._motion.emergency_stop()

    # -- driver enable and hold --------------------------------------------

    @contextmanager
    def hold(self) -> Iterator[StepperRail]:
        """Keep the driver enabled (holding torque) for a whole stack.

        On a normal exit the idle timer starts; if the block raises, the motor
        is released at once.
        """
        self._check_open()
        self._power.hold()
        failed = True
        try:
            yield self
            failed = False
        finally:
            self._power.unhold(failed=failed)

    def enable(self) -> None:
        """Enable the driver now; the idle timer disables it again unless held."""
        self._check_open()
        with self._lock:
            self._power.engage()
            self._power.idle()

    def disable(self) -> None:
        """Disable the driver now (refused while a move runs)."""
        with self._lock:
            if self.moving:
                raise RailBusy("cannot disable the driver while the rail is moving")
            self._power.release()

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Stop any move, disable the driver, save the position as a clean stop."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        got_lock = self._operation_lock.acquire(timeout=5.0)
        if not got_lock:
            self.emergency_stop()
            got_lock = self._operation_lock.acquire(timeout=5.0)
        try:
            with self._lock:
                self._power.close()
                if got_lock:
                    self._position.save(clean=True)
        finally:
            try:
                self._close_parts()
            finally:
                if got_lock:
                    self._operation_lock.release()

    def _close_parts(self) -> None:
        parts: list[Any] = [self._pulser, *self._switches.values(), self._enable]
        close_all(part.close for part in parts if part is not None)

    def __enter__(self) -> StepperRail:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    @contextmanager
    def _operation(self, what: str) -> Iterator[None]:
        self._check_open()
        if not self._operation_lock.acquire(blocking=False):
            raise RailBusy(f"the rail is busy ({self._busy_with}); wait, or call stop() first")
        failed = True
        try:
            self._busy_with = what
            self._moved = False
            self._motion.clear_stops()
            yield
            failed = False
        finally:
            try:
                with self._lock:
                    self._busy_with = None
                    cancelled = self._motion.stop_requested
                    try:
                        self._position.save(clean=False)  # may fail (a full disk): still usable
                    finally:
                        if (failed and self._moved) or (cancelled and not self._power.holds):
                            self._power.release()  # an error once moving, or a cancel
                        else:
                            self._power.idle()
            finally:
                self._operation_lock.release()

    def _engage(self) -> None:
        """Power the driver for motion (the motion's ``engage``)."""
        with self._lock:
            self._moved = True
            self._power.engage()

    def _released(self) -> None:
        """The driver was just disabled: an unpowered rotor falls to a full-step detent."""
        position = self._position
        if position.known and position.steps % self.config.microsteps:
            log.warning(
                "driver disabled between full steps at %.4f mm: position now unknown",
                position.mm,
            )
            position.forget()
            position.save(clean=False)

    def _check_open(self) -> None:
        if self._closed:
            raise RailClosed("the rail is closed")
