"""The LED as the bench sees it: how bright, from the level of its pin."""

from __future__ import annotations

from rig.sim.hardware.pins import BenchPin


class BenchLed:
    """The LED on ``pin``; ``active_high=False`` when a low pin lights it."""

    def __init__(self, pin: BenchPin, *, active_high: bool) -> None:
        self._pin = pin
        self._active_high = active_high

    @property
    def level(self) -> float:
        """Brightness, 0–1: the pin's level (its PWM value); 0 while the pin is not driven."""
        pin = self._pin
        if pin.function != "output":
            return 0.0
        value = float(pin.state)
        return value if self._active_high else 1.0 - value
