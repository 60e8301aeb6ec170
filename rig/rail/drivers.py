"""The registry of STEP/DIR driver chips: the one table every back-end and the config read.

Figures come from the driver datasheets (minimum STEP high/low time, DIR setup
before the STEP rising edge, the largest microstep setting).  We never go below
1 µs of DIR setup whatever the datasheet allows, because the GPIO write and the
first STEP edge can otherwise land in the same bus cycle.

Adding a driver is one line in :data:`DRIVERS`: the config's ``rail.driver``
accepts its key (:data:`DriverName`), the pulse back-ends and the simulated
carriage use its timing, ``config check`` its microstep limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

# Floor for DIR setup, whatever the datasheet says (see module docstring).
MIN_DIR_SETUP_NS = 1_000


@dataclass(frozen=True)
class DriverTiming:
    """Electrical limits of one STEP/DIR/ENABLE driver chip."""

    name: str
    min_high_ns: int  # STEP pulse width (high)
    min_low_ns: int  # STEP low time between pulses
    dir_setup_ns: int  # DIR stable before the STEP rising edge
    enable_settle_ns: int  # ENABLE active before the first STEP
    max_microsteps: int

    @property
    def min_period_ns(self) -> int:
        """Shortest STEP period the driver accepts."""
        return self.min_high_ns + self.min_low_ns


DRIVERS: dict[str, DriverTiming] = {
    # Allegro A4988: 1 µs high, 1 µs low, 200 ns setup; MS1-3 up to 1/16.
    "a4988": DriverTiming("A4988", 1_000, 1_000, max(200, MIN_DIR_SETUP_NS), 1_000_000, 16),
    # TI DRV8825: 1.9 µs high and low, 650 ns setup; up to 1/32.
    "drv8825": DriverTiming("DRV8825", 1_900, 1_900, max(650, MIN_DIR_SETUP_NS), 1_000_000, 32),
    # Trinamic TMC2209 (STEP/DIR mode): ~100 ns high/low, 20 ns setup; up to 1/256.
    "tmc2209": DriverTiming("TMC2209", 100, 100, max(20, MIN_DIR_SETUP_NS), 1_000_000, 256),
}


if TYPE_CHECKING:
    DriverName = str
else:
    # The registry's keys as a Literal, so pydantic validates rail.driver against them
    # and names every choice in its error; type checkers see a plain str.
    DriverName = Literal[tuple(DRIVERS)]


def driver_timing(name: str) -> DriverTiming:
    """The timing of driver ``name``, a key of :data:`DRIVERS`."""
    try:
        return DRIVERS[name]
    except KeyError:
        known = ", ".join(sorted(DRIVERS))
        raise ValueError(f"unknown stepper driver {name!r} (known: {known})") from None
