"""The LED light over the subject: dimmable (PWM) or plain on/off.

>>> with Light(18, level=0.6) as light, light.lit():
...     camera.capture()  # the LED is off again however this block ends
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gpiozero import PWMLED, DigitalOutputDevice

if TYPE_CHECKING:
    from rig.config import LightConfig


class Light:
    """An LED (driver) on one GPIO.

    :param pin: GPIO number.
    :param pwm: dim with PWM (:class:`gpiozero.PWMLED`); ``False`` for a plain
        on/off output (:class:`gpiozero.DigitalOutputDevice`), level 1 only.
    :param frequency: PWM frequency in Hz (high enough not to beat with the exposure).
    :param level: brightness used by :meth:`on` without an argument, 0–1.
    :param active_high: ``False`` when the LED driver lights on a low pin.
    :param warmup_s: wait this long after switching on from off, so the LED's
        output (and colour) has settled before a frame is exposed.
    :param pin_factory: gpiozero pin factory (``None``: gpiozero's default).

    The output starts off, so an LED left lit by a crashed run goes dark.
    """

    def __init__(
        self,
        pin: int,
        *,
        pwm: bool = True,
        frequency: float = 1000.0,
        level: float = 1.0,
        active_high: bool = True,
        warmup_s: float = 0.0,
        pin_factory: Any = None,
    ) -> None:
        self._check_level(level, pwm)
        self.default_level = level
        self.warmup_s = warmup_s
        self._pwm = pwm
        self._lock = threading.Lock()
        self._device: Any
        if pwm:
            self._device = PWMLED(
                pin,
                active_high=active_high,
                initial_value=0,
                frequency=frequency,
                pin_factory=pin_factory,
            )
        else:
            self._device = DigitalOutputDevice(
                pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )

    @classmethod
    def from_config(cls, config: LightConfig, *, pin_factory: Any = None) -> Light:
        """A light as described by ``[light]``."""
        return cls(
            config.pin,
            pwm=config.pwm,
            frequency=config.frequency_hz,
            level=config.level,
            active_high=config.active_high,
            warmup_s=config.warmup_s,
            pin_factory=pin_factory,
        )

    @property
    def level(self) -> float:
        """Current brightness, 0 (off) to 1."""
        return float(self._device.value)

    @property
    def is_lit(self) -> bool:
        return self.level > 0

    def on(self, level: float | None = None) -> None:
        """Light at ``level`` (default: the configured level); waits the warm-up if it was off."""
        level = self.default_level if level is None else level
        self._check_level(level, self._pwm)
        with self._lock:
            was_dark = not self.is_lit
            self._device.value = level if self._pwm else bool(level)
        if was_dark and level > 0 and self.warmup_s > 0:
            time.sleep(self.warmup_s)

    def off(self) -> None:
        with self._lock:
            self._device.off()

    @contextmanager
    def lit(self, level: float | None = None) -> Iterator[Light]:
        """Lit inside the block, off on every way out of it (exceptions included)."""
        try:
            self.on(level)
            yield self
        finally:
            self.off()

    def close(self) -> None:
        """Switch off and release the pin (idempotent)."""
        if self._device.closed:
            return
        try:
            self.off()
        finally:
            self._device.close()

    def __enter__(self) -> Light:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _check_level(level: float, pwm: bool) -> None:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"light level {level} is outside 0–1")
        if not pwm and level not in (0.0, 1.0):
            raise ValueError(f"light level {level} needs a PWM light (pwm=True)")
