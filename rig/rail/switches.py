"""Limit switches on GPIO inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero import DigitalInputDevice

_PULL_UP = {"up": True, "down": False, "off": None}


class LimitSwitch:
    """One end-of-travel switch; :attr:`triggered` is True while it is pressed.

    ``pull`` is ``"up"``, ``"down"`` or ``"off"`` (external resistor) and
    ``triggered_level`` the electrical level of a pressed switch.  gpiozero
    ties the active level to the pull, so a normally-closed switch on a pull-up
    (pressed = high) is read through an inversion here.
    """

    def __init__(
        self,
        pin: int,
        *,
        name: str,
        pull: str = "up",
        triggered_level: bool = False,
        pin_factory: Any = None,
    ) -> None:
        pull_up = _PULL_UP[pull]
        self.name = name
        self._device = DigitalInputDevice(
            pin,
            pull_up=pull_up,
            active_state=triggered_level if pull_up is None else None,
            pin_factory=pin_factory,
        )
        # With a pull, gpiozero's active level is the opposite of the pull.
        self._inverted = pull_up is not None and triggered_level == pull_up
        self.when_triggered: Callable[[], None] | None = None
        self._device.when_activated = self._on_activated
        self._device.when_deactivated = self._on_deactivated

    @property
    def triggered(self) -> bool:
        return bool(self._device.is_active) != self._inverted

    def _on_activated(self) -> None:
        if not self._inverted:
            self._fire()

    def _on_deactivated(self) -> None:
        if self._inverted:
            self._fire()

    def _fire(self) -> None:
        callback = self.when_triggered
        if callback is not None:
            callback()

    def close(self) -> None:
        self.when_triggered = None
        self._device.close()
