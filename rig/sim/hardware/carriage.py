"""The carriage: the rail's moving part, following STEP/DIR/ENABLE like a driver chip.

It does not trust the rail's bookkeeping: it watches the pins the way a driver
chip would — a rising STEP edge moves one (micro)step in the direction the DIR
pin says, nothing moves while ENABLE is inactive — so a bug in pulse
generation shows up as a wrong carriage position and a wrong image.  It also
drives the limit-switch input pins at the ends of the travel (the switches are
pressed by the carriage, so they live here) and records timing violations (DIR
setup, STEP high/low time) against the driver table.

It knows the mechanics (steps/mm, direction inversion, enable polarity, switch
wiring, travel) only from the same ``[rail]`` config as the real rail.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from rig.rail.drivers import driver_timing
from rig.rail.pulses import SYSTEM_CLOCK, Clock
from rig.sim.hardware.pins import HISTORY, BenchPin

if TYPE_CHECKING:
    from rig.config import RailConfig

HARD_STOP_MM = 1.0  # the carriage stalls this far beyond each switch
MAX_VIOLATIONS = 100


class Carriage:
    """The rail's moving part, following STEP/DIR/ENABLE like a driver chip."""

    def __init__(
        self,
        rail: RailConfig,
        *,
        step: BenchPin,
        dir: BenchPin,
        enable: BenchPin,
        limit_min: BenchPin | None,
        limit_max: BenchPin | None,
        start_steps: int,
        clock: Clock = SYSTEM_CLOCK,  # the one the rail's pulses are timed by
    ) -> None:
        self._clock = clock
        self.steps_per_mm = rail.steps_per_mm
        self._invert = rail.invert_direction
        self._enable_level = not rail.enable_active_low
        self._timing = driver_timing(rail.driver)
        self._travel = round(rail.travel_mm * self.steps_per_mm)
        margin = round(HARD_STOP_MM * self.steps_per_mm)
        self._hard = (-margin, self._travel + margin)
        self._pressed_level = rail.switches.triggered_level
        self._dir, self._enable = dir, enable
        self._switch_pins = {"min": limit_min, "max": limit_max}

        self.position_steps = start_steps
        self.steps_seen = 0  # rising STEP edges acted on
        self.ignored_steps = 0  # rising STEP edges while the driver was disabled
        self.lost_steps = 0  # steps against a hard stop
        self.violations: deque[str] = deque(maxlen=MAX_VIOLATIONS)
        self.dir_setup_ns: deque[int] = deque(maxlen=HISTORY)  # DIR change → next STEP
        self._dir_changed_at: int | None = None
        self._step_rose_at: int | None = None
        self._step_fell_at: int | None = None
        self._watchers: list[tuple[int, threading.Event]] = []
        self._watch_lock = threading.Lock()
        self._enable_changed = threading.Condition()

        step.observer = self._on_step
        dir.observer = self._on_dir
        enable.observer = self._on_enable
        for pin in self._switch_pins.values():
            if pin is not None:
                pin.on_pull = self._on_switch_pull
        self._drive_switches()

    # -- what tests and the camera read ------------------------------------

    @property
    def position_mm(self) -> float:
        return self.position_steps / self.steps_per_mm

    @property
    def driver_enabled(self) -> bool:
        # An undriven ENABLE line is held inactive by the pull resistor the wiring
        # guide asks for; the driver only runs while the Pi drives it active.
        pin = self._enable
        return pin.function == "output" and bool(pin.state) == self._enable_level

    def wait_for_steps(self, count: int, timeout: float) -> bool:
        """Block until ``count`` more rising STEP edges than now have been acted on."""
        event = threading.Event()
        with self._watch_lock:
            self._watchers.append((self.steps_seen + count, event))
        return event.wait(timeout)

    def wait_for_driver(self, *, enabled: bool, timeout: float) -> bool:
        """Block until the driver's ENABLE input reaches the given state."""
        with self._enable_changed:
            return self._enable_changed.wait_for(
                lambda: self.driver_enabled == enabled, timeout=timeout
            )

    def switch_pressed(self, side: str) -> bool:
        return self.position_steps <= 0 if side == "min" else self.position_steps >= self._travel

    # -- pin observers (run in whichever thread changed the pin) ------------

    def _on_step(self, _pin: BenchPin, level: float) -> None:
        now = self._clock.now_ns()
        timing = self._timing
        if not level:
            if self._step_rose_at is not None and now - self._step_rose_at < timing.min_high_ns:
                self._violation(f"STEP high for {now - self._step_rose_at} ns")
            self._step_fell_at = now
            return
        self._step_rose_at = now
        if self._step_fell_at is not None and now - self._step_fell_at < timing.min_low_ns:
            self._violation(f"STEP low for only {now - self._step_fell_at} ns")
        if not self.driver_enabled:
            self.ignored_steps += 1
            return
        if self._dir_changed_at is not None:
            setup = now - self._dir_changed_at
            self.dir_setup_ns.append(setup)
            if setup < timing.dir_setup_ns:
                self._violation(f"STEP {setup} ns after a DIR change")
            self._dir_changed_at = None
        forward = bool(self._dir.state) != self._invert
        target = self.position_steps + (1 if forward else -1)
        if self._hard[0] <= target <= self._hard[1]:
            self.position_steps = target
        else:
            self.lost_steps += 1
        self.steps_seen += 1
        if target in (0, -1, 1, self._travel - 1, self._travel, self._travel + 1):
            self._drive_switches()
        if self._watchers:
            self._wake_watchers()

    def _on_dir(self, _pin: BenchPin, _level: float) -> None:
        self._dir_changed_at = self._clock.now_ns()

    def _on_enable(self, _pin: BenchPin, _level: float) -> None:
        with self._enable_changed:
            self._enable_changed.notify_all()

    def _on_switch_pull(self, _pin: BenchPin) -> None:
        self._drive_switches()

    def _drive_switches(self) -> None:
        for side, pin in self._switch_pins.items():
            if pin is None or pin.function != "input":
                continue
            level = self._pressed_level if self.switch_pressed(side) else not self._pressed_level
            if level:
                pin.drive_high()
            else:
                pin.drive_low()

    def _wake_watchers(self) -> None:
        with self._watch_lock:
            waiting = []
            for target, event in self._watchers:
                if self.steps_seen >= target:
                    event.set()
                else:
                    waiting.append((target, event))
            self._watchers[:] = waiting

    def _violation(self, what: str) -> None:
        self.violations.append(what)
