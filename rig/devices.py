"""Open the rig's devices, real or simulated, and close them safely.

Simulation happens only when asked for (``simulate=True``, ``--sim``), and
:func:`open_gpio` is the one place that chooses real or simulated pins, for
:func:`open_devices` and :func:`release_outputs` alike.  When real hardware
fails to open, that is a :class:`HardwareError` naming the device, never a
quiet switch to the simulator: a rig that believes it is moving a rail it is
not would ruin a night's stack.

Safety first: the rail is built first (its first act is driving ENABLE
inactive), then the light (its first act is switching the LED off), so a
crashed previous run cannot leave either on; :meth:`Devices.close` always
ends with the driver disabled and the LED off, even if closing something fails.

Exclusive use: :func:`rig_lock` holds ``<data>/rig.lock`` (``<data>/sim/rig.lock``
for the simulator) with ``fcntl.flock``.  The daemon holds it for its whole life
and the CLI while a command runs, so they never drive the same hardware at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gpiozero import DigitalOutputDevice

from rig.camera.base import Camera
from rig.closing import close_all
from rig.data_layout import DataLayout
from rig.light import Light
from rig.rail import FocusRail

if TYPE_CHECKING:
    from rig.config import Config
    from rig.sim.hardware.bench import SimBench

T = TypeVar("T")

_FACTORY_HINTS = {
    "lgpio": "install lgpio (`sudo apt install python3-lgpio`, or `pip install lgpio` in the venv)",
    "rpigpio": "install RPi.GPIO (`sudo apt install python3-rpi.gpio`; it does not work on a Pi 5)",
}


class HardwareError(RuntimeError):
    """A device could not be opened or used; ``device`` names it."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"{device}: {message}")


class RigInUse(RuntimeError):
    """Another process (normally the daemon) holds the rig lock."""


class Gpio:
    """The pins the rig's devices open on: a real pin factory, or the simulated bench's.

    Made only by :func:`open_gpio`, the one place that chooses between them.
    :meth:`close` releases what :func:`open_gpio` opened (the bench, or the pin
    factory it made), never a factory the caller handed in.
    """

    def __init__(self, pin_factory: Any, *, bench: SimBench | None, owned: bool) -> None:
        self.pin_factory = pin_factory
        self.bench = bench
        self._owned = owned

    @property
    def simulated(self) -> bool:
        return self.bench is not None

    def close(self) -> None:
        if self.bench is not None:
            self.bench.close()
        elif self._owned:
            self.pin_factory.close()


def open_gpio(config: Config, simulate: bool, *, pin_factory: Any = None) -> Gpio:
    """The simulated bench (``simulate``), else ``pin_factory``, else ``rail.pin_factory``.

    Raises :class:`HardwareError` if the configured pin factory cannot be opened.
    """
    if simulate:
        from rig.sim.hardware.bench import SimBench

        bench = SimBench(config, state_path=DataLayout(config.data_dir).sim_bench)
        return Gpio(bench.pin_factory, bench=bench, owned=True)
    if pin_factory is not None:
        return Gpio(pin_factory, bench=None, owned=False)
    return Gpio(make_pin_factory(config), bench=None, owned=True)


class Devices:
    """The opened rig: :attr:`rail`, :attr:`light`, :attr:`camera`; :attr:`bench` if simulated."""

    def __init__(self, *, rail: FocusRail, light: Light, camera: Camera | None, gpio: Gpio) -> None:
        self.rail = rail
        self.light = light
        self.bench = gpio.bench
        self._camera = camera
        self._gpio = gpio
        self._closed = False

    @property
    def camera(self) -> Camera:
        if self._camera is None:
            raise HardwareError("camera", "not opened (open_devices(..., with_camera=False))")
        return self._camera

    @property
    def simulated(self) -> bool:
        return self._gpio.simulated

    def close(self) -> None:
        """Driver disabled and LED off first, then everything else; never stops half way."""
        if self._closed:
            return
        self._closed = True
        closers = [self.rail.close, self.light.close]
        if self._camera is not None:
            closers.append(self._camera.close)
        close_all([*closers, self._gpio.close])

    def __enter__(self) -> Devices:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_devices(
    config: Config, simulate: bool, *, with_camera: bool = True, pin_factory: Any = None
) -> Devices:
    """Open the rail, light and camera described by ``config``.

    :param simulate: use the simulated bench (mock pins, rendered camera).
    :param with_camera: also open and start the camera (the rail CLI does not need it).
    :param pin_factory: a gpiozero pin factory to use instead of ``rail.pin_factory``
        (real hardware only: e.g. a remote factory, or mock pins in tests).
    Raises :class:`HardwareError` naming the device that failed; whatever was
    already open is closed again (driver disabled, LED off).
    """
    gpio = open_gpio(config, simulate, pin_factory=pin_factory)
    factory = gpio.pin_factory
    state_path = DataLayout(config.data_dir).rail_state(simulate)
    closers: list[Callable[[], None]] = []
    try:
        rail = _opening(
            "rail",
            lambda: FocusRail(
                config.rail,
                state_path=state_path,
                pin_factory=factory,
                pulse_backend="software" if simulate else None,
            ),
        )
        closers.append(rail.close)
        light = _opening("light", lambda: Light.from_config(config.light, pin_factory=factory))
        closers.append(light.close)
        camera: Camera | None = None
        if with_camera:
            camera = _opening("camera", lambda: _camera(config, gpio.bench))
            closers.append(camera.close)
            _opening("camera", camera.start)
    except BaseException:
        close_all([*closers, gpio.close], raise_first=False)
        raise
    return Devices(rail=rail, light=light, camera=camera, gpio=gpio)


def _camera(config: Config, bench: SimBench | None) -> Camera:
    if bench is not None:
        from rig.sim.hardware.camera import SimCamera

        return SimCamera(bench, config.sim, focus_range=(-1.0, config.rail.travel_mm + 1.0))
    from rig.camera.picam import PiCamera

    return PiCamera(config.camera)


def make_pin_factory(config: Config) -> Any:
    """The gpiozero pin factory named by ``rail.pin_factory`` (``auto``: lgpio, then RPi.GPIO).

    lgpio pins open on ``rail.gpiochip`` (gpiozero's choice if unset) and become
    outputs at their safe level (:mod:`rig.pins_lgpio`).
    """
    choice = config.rail.pin_factory
    names = ["lgpio", "rpigpio"] if choice == "auto" else [choice]
    problems = []
    for name in names:
        try:
            if name == "lgpio":
                from rig.pins_lgpio import SafeLGPIOFactory

                return SafeLGPIOFactory(config.rail.gpiochip, safe_levels=safe_levels(config))
            from gpiozero.pins.rpigpio import RPiGPIOFactory

            return RPiGPIOFactory()
        except Exception as exc:  # ImportError, BadPinFactory, lgpio.error...
            problems.append(f"the {name} pin factory failed ({exc}); {_FACTORY_HINTS[name]}")
    raise HardwareError("gpio", "; ".join(problems) + " (or run with --sim to simulate)")


def safe_levels(config: Config) -> dict[int, int]:
    """GPIO → the level that keeps its device safe: ENABLE inactive, LED off."""
    return {
        config.rail.pins.enable: 1 if config.rail.enable_active_low else 0,
        config.light.pin: 0 if config.light.active_high else 1,
    }


def release_outputs(config: Config, simulate: bool) -> None:
    """Drive ENABLE inactive and the LED off, claiming no other pin; then let both go.

    For the service's ``ExecStopPost`` (``macrorig rail release``).  Each pin is
    claimed at its safe level (no glitch through the active level), then freed:
    the pull-up on ENABLE and the pull-down on the LED input hold them there.
    Raises :class:`HardwareError` if the GPIO cannot be opened or a pin cannot
    be claimed (both pins are still tried).
    """
    gpio = open_gpio(config, simulate)
    levels = safe_levels(config)
    problems: list[str] = []
    try:
        for key, pin in (
            ("rail.pins.enable", config.rail.pins.enable),
            ("light.pin", config.light.pin),
        ):
            try:
                # Active high: the value is the level, set in the claim itself.
                device = DigitalOutputDevice(
                    pin, initial_value=bool(levels[pin]), pin_factory=gpio.pin_factory
                )
                device.close()
            except Exception as exc:  # keep going: the other output must still be made safe
                problems.append(f"{key} (GPIO {pin}): {exc}")
    finally:
        gpio.close()
    if problems:
        raise HardwareError("gpio", "could not release " + "; ".join(problems))


def _opening(device: str, action: Callable[[], T]) -> T:
    try:
        return action()
    except HardwareError:
        raise
    except Exception as exc:
        raise HardwareError(device, _describe(exc)) from exc


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ImportError) and exc.name == "lgpio":
        return f'{text}: {_FACTORY_HINTS["lgpio"]}, or set rail.pulse_backend = "software"'
    return text


def lock_path(config: Config, simulate: bool) -> Path:
    """``<data>/rig.lock``, or ``<data>/sim/rig.lock`` for the simulated rig."""
    return DataLayout(config.data_dir).rig_lock(simulate)


@contextmanager
def rig_lock(config: Config, simulate: bool) -> Iterator[Path]:
    """Hold the rig's exclusive lock, or raise :class:`RigInUse` at once."""
    path = lock_path(config, simulate)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RigInUse(f"{path} is held by another process") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
