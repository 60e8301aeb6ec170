"""The simulated bench: the hardware twin behind ``--sim``, wired from the config.

Everything the real rig drives goes through the bench's mock pins
(:mod:`rig.sim.hardware.pins`), so the real rail and light code runs unchanged;
the :class:`~rig.sim.hardware.carriage.Carriage` follows STEP/DIR/ENABLE and
presses the limit switches, the :class:`~rig.sim.hardware.led.BenchLed` reads
the LED's level, and :class:`~rig.sim.hardware.camera.SimCamera` renders what
they show.  A new simulated device is one module here that observes its pins,
wired in :class:`SimBench`.

Default layout, which later checks rely on: a 0–50 mm rail (``rail.travel_mm``)
with the min switch at 0 mm and the max switch at 50 mm, hard stops 1 mm
beyond each, a new bench's carriage at ``sim.start_mm`` (5 mm), and the
"bench" scene whose subject is in focus between rail positions **10.0 and
12.0 mm** (its background is never sharp), lit by the room (``sim.ambient``) and the LED.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rig.durable import write_json_atomic
from rig.rail.pulses import SYSTEM_CLOCK, Clock
from rig.sim.hardware.carriage import Carriage
from rig.sim.hardware.led import BenchLed
from rig.sim.hardware.pins import BenchPin, bench_pin_factory

if TYPE_CHECKING:
    from rig.config import Config

BENCH_STATE_VERSION = 1


class SimBench:
    """Mock pins for the rail and the light, the :class:`Carriage` and the :class:`BenchLed`.

    Pass :attr:`pin_factory` to every gpiozero device of the simulated rig.
    With ``state_path`` the carriage position survives between runs (like a
    real carriage, which stays where it was).
    """

    def __init__(
        self, config: Config, *, state_path: Path | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self._state_path = state_path
        self.pin_factory = bench_pin_factory()
        rail = config.rail
        pins = rail.pins
        self.led = BenchLed(self.pin(config.light.pin), active_high=config.light.active_high)
        self.carriage = Carriage(
            rail,
            step=self.pin(pins.step),
            dir=self.pin(pins.dir),
            enable=self.pin(pins.enable),
            limit_min=None if pins.limit_min is None else self.pin(pins.limit_min),
            limit_max=None if pins.limit_max is None else self.pin(pins.limit_max),
            start_steps=self._restore(rail.steps_per_mm, config.sim.start_mm),
            clock=clock,
        )

    @property
    def carriage_mm(self) -> float:
        """Where the carriage really is (the camera's focus position)."""
        return self.carriage.position_mm

    def pin(self, number: int) -> BenchPin:
        """The mock pin of GPIO ``number`` (tests drive and read it)."""
        pin = self.pin_factory.pin(number)
        assert isinstance(pin, BenchPin)
        return pin

    @property
    def light_level(self) -> float:
        """Brightness of the LED, 0–1."""
        return self.led.level

    @property
    def illumination(self) -> float:
        """The light on the subject, relative to the scene's reference light (what the
        camera's exposure sees): the room's ``sim.ambient`` plus the LED's share.

        The reference light is the room with the LED at full, so a frame lit that way is
        exactly what the renderer's stacks and their ground truth assume; with the LED off
        the room alone shows the subject, dim."""
        ambient = self.config.sim.ambient
        return ambient + (1.0 - ambient) * self.led.level

    def close(self) -> None:
        """Save the carriage position and release the mock pins."""
        try:
            if self._state_path is not None:
                payload = {
                    "version": BENCH_STATE_VERSION,
                    "carriage_steps": self.carriage.position_steps,
                    "steps_per_mm": self.carriage.steps_per_mm,
                }
                write_json_atomic(self._state_path, payload)
        finally:
            self.pin_factory.close()

    def __enter__(self) -> SimBench:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _restore(self, steps_per_mm: float, start_mm: float) -> int:
        if self._state_path is not None:
            try:
                saved = json.loads(self._state_path.read_text())
                if saved.get("version") == BENCH_STATE_VERSION:
                    mm = float(saved["carriage_steps"]) / float(saved["steps_per_mm"])
                    return round(mm * steps_per_mm)
            except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
                pass
        return round(start_mm * steps_per_mm)
