"""The bench's GPIO: gpiozero mock pins that tell the simulated devices when they change.

Every device of the simulated rig is an ordinary gpiozero device on these pins
(the real rail and light code runs unchanged); the simulated hardware observes
the pins the way the real chips watch their wires.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin, PinState

HISTORY = 64  # pin state changes kept per pin (MockPin keeps all: a night would fill memory)
# A Raspberry Pi 3 Model B: a 40-pin header with GPIO 2–27, like every Pi the rig supports.
BOARD_REVISION = "a02082"


class BenchPin(MockPWMPin):
    """A mock pin that reports each level change and pull change to observers.

    PWM-capable so the LED can dim.
    """

    observer: Callable[[BenchPin, float], None] | None = None
    on_pull: Callable[[BenchPin], None] | None = None

    def close(self) -> None:
        # MockPWMPin.close() forces the level to 0 even on a pin never used for PWM;
        # a released real GPIO just stops driving (the wiring's pull decides).
        if self._frequency is not None:
            self.frequency = None
        MockPin.close(self)

    def clear_states(self) -> None:
        # gpiozero's MockPin.__init__ calls this: the one place to bound the history.
        self._last_change = time.monotonic()
        self.states = deque([PinState(0.0, self._state)], maxlen=HISTORY)

    def _change_state(self, value: Any) -> bool:
        changed = bool(super()._change_state(value))
        if changed and self.observer is not None:
            self.observer(self, float(value))
        return changed

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        if self.on_pull is not None:
            self.on_pull(self)  # setting a pull re-drives the input: re-assert switches


def bench_pin_factory() -> MockFactory:
    """A gpiozero pin factory whose pins are :class:`BenchPin` s."""
    return MockFactory(revision=BOARD_REVISION, pin_class=BenchPin)
