"""gpiozero's lgpio pins, made outputs at a safe level (gpiozero 2.0.1's are not).

``LGPIOPin`` inherits ``Pin.output_with_state`` (gpiozero/pins/__init__.py):
it claims the line as an output at level 0 (``lgpio.gpio_claim_output``'s
default) and only then writes the wanted state.  ENABLE is active low, so that
0 energises the motor for the microseconds in between, at every start and every
``macrorig rail release``; an active-low LED flashes the same way.  lgpio can
put the level in the claim itself (the kernel line request carries the output
value: ``lgGpio.c`` ``xClaim``), so these pins do:

* ``output_with_state(state)`` claims at ``state``;
* becoming an output without a state (gpiozero's ``PWMOutputDevice``) claims at
  the pin's safe level from the factory's ``safe_levels`` (0 if unknown);
* PWM starts at the duty of the level the line holds (gpiozero starts it at 0 %,
  which lights an active-low LED until the first value arrives).

PWM through lgpio is software PWM timed by lgpio's transmit thread (the same
thread that times the rail's STEP pulses), whole-percent duty, at most 10 kHz
(``lgTxPwm``): not the Pi's hardware PWM, whatever the pin.

This module imports ``lgpio``; load it only when the lgpio factory is wanted.
"""

from __future__ import annotations

from typing import Any

import lgpio
from gpiozero.pins.lgpio import LGPIOFactory, LGPIOPin


class SafeLGPIOPin(LGPIOPin):
    """An lgpio pin that never passes through level 0 on its way to another level."""

    _pwm: tuple[float, int] | None  # set by LGPIOPin: (frequency, duty %) while PWM runs
    _callback: Any  # LGPIOPin's lgpio callback while edges are watched

    def output_with_state(self, state: Any) -> None:
        self._claim_output(1 if state else 0)

    def _set_function(self, value: str) -> None:
        if value == "output" and self.function != "output":
            self._claim_output(self.factory.safe_levels.get(self._number, 0))
        else:
            super()._set_function(value)

    def _set_frequency(self, value: float | None) -> None:
        if not self._pwm and value:
            duty = 100 if lgpio.gpio_read(self.factory._handle, self._number) else 0
            lgpio.tx_pwm(self.factory._handle, self._number, value, duty)
            self._pwm = (value, duty)
        else:
            super()._set_frequency(value)

    def _claim_output(self, level: int) -> None:
        if self._callback is not None:
            self._callback.cancel()
            self._callback = None
        handle = self.factory._handle
        lgpio.gpio_claim_output(handle, self._number, level)
        # A line that already was an output keeps its level through a claim
        # (lgGpio.c xSetAsOutput): write it too.
        lgpio.gpio_write(handle, self._number, level)


class SafeLGPIOFactory(LGPIOFactory):
    """gpiozero's lgpio factory whose pins become outputs at a safe level.

    :param chip: the gpiochip (``None``: gpiozero's choice, 4 on a Pi 5, else 0).
    :param safe_levels: GPIO → the level that keeps its device safe (ENABLE
        inactive, LED off), used when a pin becomes an output without a state.
    """

    def __init__(self, chip: int | None = None, safe_levels: dict[int, int] | None = None):
        super().__init__(chip)
        self.pin_class = SafeLGPIOPin
        self.safe_levels = dict(safe_levels or {})
