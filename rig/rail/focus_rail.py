"""The focus rail device: pins and mechanics from ``[rail]`` in the config."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpiozero import DigitalOutputDevice

from rig.closing import close_all
from rig.rail.drivers import DriverTiming, driver_timing
from rig.rail.power import TimerFactory
from rig.rail.pulses import Clock, StepPulser
from rig.rail.stepper_rail import StepperRail
from rig.rail.switches import LimitSwitch

if TYPE_CHECKING:
    from rig.config import RailConfig


class FocusRail(StepperRail):
    """A focus rail on a STEP/DIR/ENABLE driver (one of :data:`rig.rail.drivers.DRIVERS`).

    :param config: the ``[rail]`` section: pins, mechanics, limits, homing.
    :param state_path: JSON file keeping the position between runs (``None``:
        nothing persisted, the position starts unknown).
    :param pin_factory: gpiozero pin factory for every pin (``None``: gpiozero's default).
    :param pulse_backend: overrides ``config.pulse_backend`` (``"software"``,
        ``"lgpio"`` or ``"auto"``: lgpio when the pin factory is gpiozero's lgpio one).
    :param timer_factory: makes the idle-disable timer (tests pass a manual one).

    The ENABLE output is created first and driven inactive, so a driver left
    enabled by a crashed run is released before anything else happens.

    >>> with FocusRail(config.rail, state_path=data / "rail-state.json") as rail:
    ...     rail.home()
    ...     with rail.hold():
    ...         rail.move_to(11.0)
    """

    def __init__(
        self,
        config: RailConfig,
        *,
        state_path: Path | None = None,
        pin_factory: Any = None,
        pulse_backend: str | None = None,
        timer_factory: TimerFactory = threading.Timer,
        clock: Clock | None = None,  # the pulses' time (tests hand in a virtual one)
    ) -> None:
        timing = driver_timing(config.driver)
        enable = DigitalOutputDevice(
            config.pins.enable,
            active_high=not config.enable_active_low,
            initial_value=False,
            pin_factory=pin_factory,
        )
        parts: list[Any] = [enable]
        try:
            backend = pulse_backend or config.pulse_backend
            pulser = make_pulser(config, timing, backend, pin_factory, clock)
            parts.append(pulser)
            wiring = config.switches
            switches: dict[str, LimitSwitch | None] = {}
            for side, pin in (("min", config.pins.limit_min), ("max", config.pins.limit_max)):
                switch = None
                if pin is not None:
                    switch = LimitSwitch(
                        pin,
                        name=f"limit_{side}",
                        pull=wiring.pull,
                        triggered_level=wiring.triggered_level,
                        pin_factory=pin_factory,
                    )
                    parts.append(switch)
                switches[side] = switch
            super().__init__(
                config,
                pulser=pulser,
                enable=enable,
                limit_min=switches["min"],
                limit_max=switches["max"],
                state_path=state_path,
                timer_factory=timer_factory,
            )
        except BaseException:
            # Every part closes even if one fails; the error that stopped us is the one raised.
            close_all([part.close for part in reversed(parts)], raise_first=False)
            raise


def make_pulser(
    config: RailConfig,
    timing: DriverTiming,
    backend: str,
    pin_factory: Any,
    clock: Clock | None = None,
) -> StepPulser:
    """The STEP/DIR back-end named by ``backend`` (``"auto"`` picks lgpio on lgpio pins)."""
    on_lgpio = any(cls.__name__ == "LGPIOFactory" for cls in type(pin_factory).__mro__)
    if backend == "auto":
        backend = "lgpio" if on_lgpio else "software"
    timed: dict[str, Any] = {} if clock is None else {"clock": clock}  # else their default
    if backend == "lgpio":
        from rig.rail.pulses_lgpio import LgpioPulser

        # STEP/DIR on the chip the factory opened (ENABLE, switches and LED are there),
        # which honours rail.gpiochip and gpiozero's own choice (4 on a Pi 5).
        chip = pin_factory.chip if on_lgpio else (config.gpiochip or 0)
        return LgpioPulser(config.pins.step, config.pins.dir, timing, chip=chip, **timed)
    if backend == "software":
        from rig.rail.pulses_software import SoftwarePulser

        return SoftwarePulser(
            config.pins.step, config.pins.dir, timing, pin_factory=pin_factory, **timed
        )
    raise ValueError(f"unknown pulse back-end {backend!r} (use auto, lgpio or software)")
