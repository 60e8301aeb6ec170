"""The rig's one configuration file: TOML, validated by pydantic models.

Every section is a model with ``extra="forbid"`` so a misspelt key is an error
rather than a silently ignored setting.  Adding a section (``[server]``,
``[auth]``...) is adding one field to :class:`Config`; a section that uses GPIO
pins lists them from ``gpio_pins()`` and the duplicate-pin check picks them up.

Validation errors become a :class:`ConfigError` whose ``problems`` are one line
each, naming the dotted key and the fix::

    rail.pins.step: GPIO 41 does not exist on a Raspberry Pi header (use 2–27)
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rig.rail.drivers import DRIVERS, DriverName

GPIO_FIRST, GPIO_LAST = 2, 27  # header GPIOs; 0/1 are the HAT ID EEPROM bus


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        first = self.problems[0] if self.problems else "invalid configuration"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{first}{more}")


def _check_gpio(pin: int) -> int:
    if not GPIO_FIRST <= pin <= GPIO_LAST:
        raise ValueError(
            f"GPIO {pin} does not exist on a Raspberry Pi header (use {GPIO_FIRST}–{GPIO_LAST})"
        )
    return pin


def _false_is_none(value: Any) -> Any:
    # TOML has no null: ``limit_min = false`` says "no switch wired".
    return None if value is False else value


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"{width}×{height}: width and height must be positive and even")
    return size


Gpio = Annotated[int, Field(strict=True), AfterValidator(_check_gpio)]
OptionalGpio = Annotated[Gpio | None, BeforeValidator(_false_is_none)]
Size = Annotated[tuple[int, int], AfterValidator(_check_size)]
PositiveFloat = Annotated[float, Field(strict=True, gt=0)]
NonNegativeFloat = Annotated[float, Field(strict=True, ge=0)]
Float = Annotated[float, Field(strict=True)]
Bool = Annotated[bool, Field(strict=True)]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def gpio_pins(self) -> dict[str, int]:
        """GPIO pins this section uses, by dotted key (for the duplicate check)."""
        return {}


class RailPins(Section):
    step: Gpio = 23
    dir: Gpio = 24
    enable: Gpio = 25
    limit_min: OptionalGpio = 5
    limit_max: OptionalGpio = 6


class SwitchWiring(Section):
    """How the limit switches are wired (both switches alike)."""

    pull: Literal["up", "down", "off"] = "up"
    # Omitted: a pulled-up switch is active low (closes to ground), pulled-down active high.
    active_high: Bool | None = None

    @model_validator(mode="after")
    def _floating_needs_level(self) -> SwitchWiring:
        if self.pull == "off" and self.active_high is None:
            raise ValueError(
                'rail.switches.active_high: required with pull = "off" '
                "(say which level the switch gives when pressed)"
            )
        return self

    @property
    def triggered_level(self) -> bool:
        """The electrical level of a pressed switch."""
        if self.active_high is not None:
            return self.active_high
        return self.pull == "down"


class Homing(Section):
    switch: Literal["min", "max"] = "min"
    fast_mm_s: PositiveFloat = 2.0
    slow_mm_s: PositiveFloat = 0.2
    backoff_mm: PositiveFloat = 1.0


class RailConfig(Section):
    driver: DriverName = "tmc2209"  # a key of rig.rail.drivers.DRIVERS
    pins: RailPins = RailPins()
    switches: SwitchWiring = SwitchWiring()
    homing: Homing = Homing()
    lead_mm: PositiveFloat = 1.0
    steps_per_rev: Annotated[int, Field(strict=True, gt=0)] = 200
    microsteps: Annotated[int, Field(strict=True, gt=0)] = 16
    invert_direction: Bool = False
    enable_active_low: Bool = True
    max_speed_mm_s: PositiveFloat = 2.0
    accel_mm_s2: PositiveFloat = 20.0
    backlash_mm: NonNegativeFloat = 0.0
    approach: Literal["forward", "backward"] = "forward"
    travel_mm: PositiveFloat = 50.0
    soft_min_mm: NonNegativeFloat = 0.5
    soft_max_mm: PositiveFloat = 49.5
    idle_disable_s: NonNegativeFloat = 30.0
    pin_factory: Literal["lgpio", "rpigpio", "auto"] = "lgpio"
    pulse_backend: Literal["auto", "lgpio", "software"] = "auto"
    gpiochip: Annotated[int, Field(strict=True, ge=0)] | None = None

    @field_validator("microsteps")
    @classmethod
    def _microsteps_fit_driver(cls, value: int, info: ValidationInfo) -> int:
        if value & (value - 1):
            raise ValueError(f"{value} is not a power of two (use 1, 2, 4, 8, 16...)")
        driver = info.data.get("driver")
        if driver in DRIVERS and value > DRIVERS[driver].max_microsteps:
            timing = DRIVERS[driver]
            raise ValueError(
                f"the {timing.name} supports at most {timing.max_microsteps} microsteps "
                f"(use {timing.max_microsteps} or fewer)"
            )
        return value

    @field_validator("soft_max_mm")
    @classmethod
    def _soft_limits_inside_travel(cls, value: float, info: ValidationInfo) -> float:
        travel = info.data.get("travel_mm")
        low = info.data.get("soft_min_mm")
        if travel is not None and value > travel:
            raise ValueError(
                f"{value} is beyond the travel (rail.travel_mm = {travel}); use at most {travel}"
            )
        if low is not None and value <= low:
            raise ValueError(f"{value} must be above rail.soft_min_mm ({low})")
        return value

    @model_validator(mode="after")
    def _speed_within_driver(self) -> RailConfig:
        period_ns = DRIVERS[self.driver].min_period_ns
        if self.uses_lgpio_pulses:
            from rig.rail.pulses_lgpio import lgpio_min_period_ns

            period_ns = lgpio_min_period_ns(DRIVERS[self.driver])
        limit = 1e9 / period_ns / self.steps_per_mm
        if self.max_speed_mm_s > limit:
            via = " through lgpio" if self.uses_lgpio_pulses else ""
            raise ValueError(
                f"rail.max_speed_mm_s: {self.max_speed_mm_s} mm/s needs "
                f"{self.max_speed_mm_s * self.steps_per_mm:.0f} steps/s, but the shortest STEP "
                f"period for the {DRIVERS[self.driver].name}{via} is {period_ns / 1000:g} µs; "
                f"use at most {limit:.1f} mm/s"
            )
        return self

    @model_validator(mode="after")
    def _homing_slower_than_fast(self) -> RailConfig:
        if self.homing.slow_mm_s > self.homing.fast_mm_s:
            raise ValueError("rail.homing.slow_mm_s: must not exceed rail.homing.fast_mm_s")
        if self.homing.fast_mm_s > self.max_speed_mm_s:
            raise ValueError("rail.homing.fast_mm_s: must not exceed rail.max_speed_mm_s")
        return self

    @property
    def steps_per_mm(self) -> float:
        return self.steps_per_rev * self.microsteps / self.lead_mm

    @property
    def uses_lgpio_pulses(self) -> bool:
        """Whether STEP pulses go out as lgpio trains (on a real rig)."""
        if self.pulse_backend == "auto":
            return self.pin_factory in ("lgpio", "auto")
        return self.pulse_backend == "lgpio"

    def gpio_pins(self) -> dict[str, int]:
        pins = self.pins.model_dump()
        return {f"rail.pins.{name}": pin for name, pin in pins.items() if pin is not None}


class CameraConfig(Section):
    camera_num: Annotated[int, Field(strict=True, ge=0)] = 0
    resolution: Size = (4056, 3040)  # HQ camera full resolution
    preview_size: Size = (640, 480)
    buffer_count: Annotated[int, Field(strict=True, ge=1, le=8)] = 2
    # Fixed at start when given; otherwise auto until lock_exposure().
    exposure_us: Annotated[int, Field(strict=True, gt=0)] | None = None
    analogue_gain: Annotated[float, Field(strict=True, ge=1.0)] | None = None
    colour_gains: tuple[PositiveFloat, PositiveFloat] | None = None
    lens_position: NonNegativeFloat | None = None  # dioptres (Camera Module 3)
    exposure_tolerance: Annotated[float, Field(strict=True, gt=0, lt=1)] = 0.05
    settle_frames: Annotated[int, Field(strict=True, ge=1, le=30)] = 6
    capture_timeout_s: PositiveFloat = 5.0
    tuning_file: str | None = None
    preview_encoder: Literal["auto", "hardware", "software"] = "auto"

    @model_validator(mode="after")
    def _preview_fits(self) -> CameraConfig:
        if self.preview_size[0] > self.resolution[0] or self.preview_size[1] > self.resolution[1]:
            raise ValueError("camera.preview_size: must not exceed camera.resolution")
        return self


class LightConfig(Section):
    pin: Gpio = 18
    pwm: Bool = True
    frequency_hz: Annotated[float, Field(strict=True, ge=0.1, le=10_000)] = 1000.0  # lgTxPwm
    level: Annotated[float, Field(strict=True, ge=0, le=1)] = 1.0
    active_high: Bool = True
    warmup_s: NonNegativeFloat = 0.0

    @field_validator("level")
    @classmethod
    def _dimming_needs_pwm(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("pwm") is False and value not in (0.0, 1.0):
            raise ValueError(f"{value}: dimming needs pwm = true (or use level = 1.0)")
        return value

    def gpio_pins(self) -> dict[str, int]:
        return {"light.pin": self.pin}


def default_data_dir() -> Path:
    """``$MACRORIG_DATA`` or ``~/.local/share/macrorig``."""
    return Path(os.environ.get("MACRORIG_DATA") or "~/.local/share/macrorig").expanduser()


class DataConfig(Section):
    dir: Path = Field(default_factory=default_data_dir)

    @field_validator("dir")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()


class SimConfig(Section):
    resolution: Size = (1014, 760)
    preview_size: Size = (320, 240)
    scene: str = "bench"
    seed: Annotated[int, Field(strict=True)] = 0
    noise: NonNegativeFloat = 1.0
    start_mm: Float = 5.0  # carriage position of a brand-new simulated bench
    honour_exposure: Bool = False  # sleep for the exposure time in capture()
    # Faults in every stack, for trying the health check: "move@8", "flicker@5",
    # "drift=0.2", "step@6", "shake@9", "short=0.3", "swap@4" (rig.sim.hardware.faults).
    faults: list[str] = []

    @field_validator("faults")
    @classmethod
    def _faults_parse(cls, value: list[str]) -> list[str]:
        from rig.sim.render.faults import FaultError, parse

        try:
            parse(value)
        except FaultError as exc:
            raise ValueError(str(exc).removeprefix("--fault ")) from None
        return value

    # Room light, as a share of the scene's reference light (room + LED at full): the
    # subject shows dim with the LED off, and an LED at full gives the reference frames.
    ambient: Annotated[float, Field(strict=True, ge=0, le=1)] = 0.12


class JobsConfig(Section):
    """The job queue: how many stacks may wait at once (a submit beyond it is refused,
    so a runaway script or schedule cannot fill the queue and the disk)."""

    queue_max: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 20


def _check_network(entry: str) -> str:
    ipaddress.ip_network(entry, strict=False)  # ValueError says what is wrong
    return entry


def _check_host_name(entry: str) -> str:
    if not _HOST_NAME.fullmatch(entry):
        raise ValueError(f"{entry!r} is not a host name (letters, digits, '-', '.')")
    return entry


def _check_host_or_network(entry: str) -> str:
    with contextlib.suppress(ValueError):
        return _check_network(entry)
    if not _HOST_NAME.fullmatch(entry):
        raise ValueError(f"{entry!r} is neither a host name, an IP address nor a network (CIDR)")
    return entry


_HOST_NAME = re.compile(r"(?i)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?")
HostName = Annotated[str, AfterValidator(_check_host_name)]
HostOrNetwork = Annotated[str, AfterValidator(_check_host_or_network)]
Network = Annotated[str, AfterValidator(_check_network)]


class ServerConfig(Section):
    """Where the web page and API listen (command-line options win)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(strict=True, ge=1, le=65535)] = 8000
    # Names the rig is reached by besides its defaults (localhost, the hostname, its
    # .local name and any IP address): a request with another Host is refused (DNS
    # rebinding).
    hosts: tuple[HostName, ...] = ()
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks); none by
    # default, so a client cannot pick the address its failed logins are counted against.
    trusted_proxies: tuple[Network, ...] = ()


class CallbacksConfig(Section):
    """Where job callbacks may go.  Loopback, link-local (cloud metadata), unspecified,
    multicast and broadcast addresses are refused unless listed in ``allow`` (host names
    or networks, e.g. ``["127.0.0.1", "hooks.lab"]``)."""

    allow: tuple[HostOrNetwork, ...] = ()


class AuthConfig(Section):
    """Who may use the rig.  Scripts send the API token (``<data>/api-token``, or the
    ``MACRORIG_TOKEN`` environment variable); the phone page logs in with the token or
    with ``password`` if one is set here."""

    password: Annotated[str, Field(min_length=8)] | None = None
    session_hours: Annotated[float, Field(strict=True, gt=0, le=24 * 365)] = 24.0 * 30


def _check_scheduler(address: str | None) -> str | None:
    if address is not None and not re.fullmatch(r"(tcp|tls|ucx|inproc)://\S+", address):
        raise ValueError(f"{address!r} is not a Dask scheduler address (use tcp://host:8786)")
    return address


class StackingConfig(Section):
    """Where a job's frames are fused: here (the default), or handed to a Dask cluster
    (``cluster = "tcp://host:8786"``, needs ``macrorig[cluster]``).  The workers read the
    frames and write the results in this rig's data folder: at the same path (a shared
    folder), or under ``data_url`` (how the workers reach it: a mount point, an
    ``sftp://`` or ``s3://`` URL).  If the cluster cannot be reached or fails, the rig
    stacks the job itself and says so."""

    cluster: Annotated[str | None, AfterValidator(_check_scheduler)] = None
    data_url: str | None = None
    connect_timeout_s: PositiveFloat = 5.0
    timeout_s: PositiveFloat = 3600.0  # a stack still not back after this is stacked here


class Config(Section):
    rail: RailConfig = RailConfig()
    camera: CameraConfig = CameraConfig()
    light: LightConfig = LightConfig()
    data: DataConfig = Field(default_factory=DataConfig)
    sim: SimConfig = SimConfig()
    jobs: JobsConfig = JobsConfig()
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    stacking: StackingConfig = StackingConfig()

    @model_validator(mode="after")
    def _no_shared_pins(self) -> Config:
        users: dict[int, list[str]] = {}
        for name in type(self).model_fields:
            section = getattr(self, name)
            if isinstance(section, Section):
                for key, pin in section.gpio_pins().items():
                    users.setdefault(pin, []).append(key)
        clashes = [
            f"{' and '.join(keys)} all use GPIO {pin} (give each its own pin)"
            if len(keys) > 2
            else f"{keys[0]} and {keys[1]} both use GPIO {pin} (give each its own pin)"
            for pin, keys in sorted(users.items())
            if len(keys) > 1
        ]
        if clashes:
            raise ValueError("\n".join(clashes))
        return self

    @property
    def data_dir(self) -> Path:
        return self.data.dir


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; ``None`` gives the defaults.

    A relative ``[data] dir`` is taken relative to the config file.
    Raises :class:`ConfigError` listing every problem found.
    """
    if path is None:
        return Config()
    source = str(path)
    try:
        with open(path, "rb") as stream:
            raw = tomllib.load(stream)
    except FileNotFoundError:
        raise ConfigError(["no such file"], source) from None
    except IsADirectoryError:
        raise ConfigError(["is a directory, not a config file"], source) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"invalid TOML: {exc}"], source) from None
    data_dir = raw.get("data", {}).get("dir") if isinstance(raw.get("data"), dict) else None
    if isinstance(data_dir, str) and not Path(data_dir).expanduser().is_absolute():
        raw["data"]["dir"] = str(Path(path).resolve().parent / data_dir)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc), source) from None


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per pydantic error: ``dotted.key: what is wrong (and the fix)``."""
    lines: list[str] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc)
        message = _describe(error, loc)
        for line in message.splitlines():
            # Model-level checks already name their keys.
            lines.append(line if not key or _starts_with_key(line) else f"{key}: {line}")
    return lines


def _starts_with_key(line: str) -> bool:
    return _KEY_PREFIX.match(line) is not None


_KEY_PREFIX = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+:")


def _describe(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    message = str(error["msg"])
    given = error.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        if len(loc) == 1:
            return f"unknown section (known sections: {', '.join(known)})"
        hint = f" (known keys here: {', '.join(known)})" if known else ""
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        return f"{given!r} is not allowed; {message[0].lower()}{message[1:]}"
    return f"{message[0].lower()}{message[1:]} (got {given!r})"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []
