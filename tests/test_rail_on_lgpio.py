"""The real-rig path: gpiozero's lgpio pins and the lgpio pulser over the strict fake lgpio.

gpiozero (the real library) runs on top of ``tests/fakes/lgpio.py``, which
models lg v0.2.2; a carriage in the fake counts the STEP pulses that played and
presses the limit switches.  Trains play in virtual time, so homing over
millimetres takes milliseconds and nothing depends on the machine's load.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakes.clock import VirtualClock

from rig.cli import main
from rig.config import Config, load_config
from rig.devices import open_devices, release_outputs
from rig.rail.drivers import DRIVERS
from rig.rail.pulses_lgpio import LgpioPulser

FAKES = Path(__file__).parent / "fakes"
EXAMPLE = Path(__file__).parents[1] / "rig" / "examples" / "pi-hq-tmc2209.toml"
PI4, PI5 = 0xC03114, 0xD04170  # board revision codes (gpiozero's PiBoardInfo)
ENABLE, LED, STEP, DIR, LIMIT_MIN, LIMIT_MAX = 25, 18, 23, 24, 5, 6


class Pi(SimpleNamespace):
    """The fake Pi: ``lgpio`` (the fake module), ``clock``, ``chip`` the rig should use."""

    def attach_carriage(self, config: Config, at_mm: float) -> None:
        rail = config.rail
        travel = round(rail.travel_mm * rail.steps_per_mm)
        self.lgpio.carriage = self.lgpio.Carriage(
            chip=self.chip,
            step=STEP,
            dir=DIR,
            position=round(at_mm * rail.steps_per_mm),
            forward_level=0 if rail.invert_direction else 1,
            switches={LIMIT_MIN: lambda pos: pos <= 0, LIMIT_MAX: lambda pos: pos >= travel},
        )

    def claims_on(self, gpio: int) -> set[int]:
        """The chips on which ``gpio`` was claimed (the handle carries its chip)."""
        return {
            c[1] >> 16 for c in self.lgpio.calls if c[0].startswith("gpio_claim") and c[2] == gpio
        }


def fake_pi(monkeypatch, revision: int, chips: set[int]) -> Pi:
    monkeypatch.syspath_prepend(str(FAKES))
    for name in ("lgpio", "gpiozero.pins.lgpio", "rig.pins_lgpio"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import gpiozero.pins.local as local
    import lgpio

    clock = VirtualClock()
    lgpio.reset(new_clock=clock)
    lgpio.chips_present.update(chips)
    monkeypatch.setattr(local, "get_pi_revision", lambda: revision)
    # gpiozero 2.0.1 LGPIOFactory picks chip 4 on a Pi 5 if /dev/gpiochip4 exists.
    import gpiozero.pins.lgpio as gz_lgpio

    dev = SimpleNamespace(
        path=SimpleNamespace(exists=lambda p: p in {f"/dev/gpiochip{c}" for c in chips})
    )
    monkeypatch.setattr(gz_lgpio, "os", dev)
    monkeypatch.setitem(LgpioPulser.__init__.__kwdefaults__, "clock", clock)
    chip = 4 if revision == PI5 and 4 in chips else 0
    return Pi(lgpio=lgpio, clock=clock, chip=chip)


@pytest.fixture
def pi(monkeypatch):
    yield fake_pi(monkeypatch, PI4, {0})
    for name in ("lgpio", "gpiozero.pins.lgpio", "rig.pins_lgpio"):
        sys.modules.pop(name, None)


def example_config(tmp_path: Path, **rail: object) -> Path:
    """The shipped example config, data in ``tmp_path``, ``rail`` keys overridden."""
    text = EXAMPLE.read_text()
    for key, value in rail.items():
        line = f"{key} = {json.dumps(value)}"
        text, found = re.subn(rf"^{key} = .*$", line, text, count=1, flags=re.M)
        if not found:
            text = text.replace("[rail]\n", f"[rail]\n{line}\n", 1)
    text = text.replace('# dir = "~/.local/share/macrorig"', f'dir = "{tmp_path / "data"}"')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """One ``macrorig`` command, as its own process would see the GPIO."""
    sys.modules["lgpio"].new_process()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- README's step 4 on each driver: jog, move, home, status, release -----------------


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_readme_step_4_runs_on_lgpio_with_each_driver(pi, tmp_path, capsys, driver):
    path = example_config(tmp_path, driver=driver, microsteps=16)
    config = load_config(path)
    pi.attach_carriage(config, at_mm=5.0)
    cfg = ("--config", str(path))

    code, out, err = run(capsys, "rail", "status", *cfg)
    assert (code, err) == (0, "") and "switches     min: open, max: open" in out
    code, out, err = run(capsys, "rail", "jog", "1", *cfg)
    assert (code, err) == (0, "") and out.startswith("moved to 1.0000 mm (unknown")
    assert pi.lgpio.carriage.position == 6 * 3200  # the carriage went 1 mm forward
    code, out, err = run(capsys, "rail", "jog", "-1", *cfg)
    assert (code, err) == (0, "") and pi.lgpio.carriage.position == 5 * 3200
    code, out, err = run(capsys, "rail", "home", *cfg)
    assert (code, err) == (0, ""), err
    assert out.startswith("homed; parked at 1.0000 mm (known")
    assert abs(pi.lgpio.carriage.position - 3200) <= 3  # 1 mm off the switch, within µm
    code, out, err = run(capsys, "rail", "move", "10", *cfg)
    assert (code, err) == (0, "") and out.startswith("moved to 10.0000 mm (known")
    assert abs(pi.lgpio.carriage.position - 32000) <= 3
    code, out, err = run(capsys, "rail", "release", *cfg)
    assert code == 0 and out.startswith("driver disabled")

    enable = pi.lgpio.driven_levels(0, ENABLE)
    assert enable[0] == 1 and enable[-1] == 1  # claimed inactive, left inactive
    assert set(pi.lgpio.driven_levels(0, LED)) == {0}  # the LED never lit
    assert not any(pi.lgpio.tx_active(0, gpio) for gpio in (STEP, LED))


def test_a_jog_into_the_limit_switch_stops_with_one_line(pi, tmp_path, capsys):
    path = example_config(tmp_path)
    pi.attach_carriage(load_config(path), at_mm=0.5)
    code, _, err = run(capsys, "rail", "jog", "-2", "--config", str(path))
    assert code == 2 and err.count("\n") == 1 and "limit_min switch stopped the rail" in err
    assert pi.lgpio.driven_levels(0, ENABLE)[-1] == 1


def test_an_lgpio_failure_mid_move_is_one_line_and_leaves_nothing_playing(pi, tmp_path, capsys):
    path = example_config(tmp_path)
    pi.attach_carriage(load_config(path), at_mm=5.0)
    queued = []

    def fail_on_the_fifth(entry):
        queued.append(entry)
        if len(queued) == 5:
            pi.lgpio.fail_next["tx_pulse"] = "bad PWM micros"

    pi.lgpio.on_tx_pulse.append(fail_on_the_fifth)
    code, _, err = run(capsys, "rail", "jog", "3", "--config", str(path))
    assert code == 2 and err.count("\n") == 1 and "lgpio refused" in err
    assert not pi.lgpio.tx_active(0, STEP)  # cancelled before the driver was disabled
    assert pi.lgpio.driven_levels(0, ENABLE)[-1] == 1


# -- defect 10: no glitch through the active level at claim ------------------------------


@pytest.mark.parametrize("led_active_high", [True, False])
def test_opening_and_releasing_never_drive_enable_or_the_led_active(pi, tmp_path, led_active_high):
    path = example_config(tmp_path)
    if not led_active_high:
        path.write_text(path.read_text().replace("active_high = true ", "active_high = false "))
    config = load_config(path)
    led_off = 0 if led_active_high else 1
    with open_devices(config, simulate=False, with_camera=False) as devices:
        devices.light.on(0.5)  # PWM starts, at the off level first
        devices.light.off()
    release_outputs(config, simulate=False)

    assert set(pi.lgpio.driven_levels(0, ENABLE)) == {1}  # never energised
    assert set(pi.lgpio.driven_levels(0, LED)) == {led_off}  # claimed dark, written dark
    pwm = [c for c in pi.lgpio.calls if c[0] == "tx_pwm" and c[2] == LED]
    duties = [call[4] for call in pwm if call[3]]  # (frequency 0 stops the PWM)
    lit = duties.index(50)
    assert lit > 0 and set(duties[:lit]) == {0 if led_active_high else 100}  # dark until lit


# -- defect 7: every pin on the one gpiochip ------------------------------------------


@pytest.mark.parametrize(
    ("revision", "chips", "setting", "expected"),
    [
        (PI5, {0, 4}, None, 4),  # gpiozero's own choice on a Pi 5
        (PI4, {0, 1}, 1, 1),  # rail.gpiochip set
        (PI5, {0, 4}, 0, 0),
    ],
)
def test_step_and_dir_share_the_gpiochip_of_every_other_pin(
    monkeypatch, tmp_path, revision, chips, setting, expected
):
    pi = fake_pi(monkeypatch, revision, chips)
    pi.chip = expected
    extra = {} if setting is None else {"gpiochip": setting}
    config = load_config(example_config(tmp_path, **extra))
    pi.attach_carriage(config, at_mm=5.0)
    with open_devices(config, simulate=False, with_camera=False) as devices:
        devices.rail.set_position(5.0)
        devices.rail.move_to(6.0)
        assert pi.lgpio.carriage.position == 6 * 3200  # the pulses reached the carriage
    for gpio in (STEP, DIR, ENABLE, LIMIT_MIN, LIMIT_MAX, LED):
        assert pi.claims_on(gpio) == {expected}, gpio
    for name in ("lgpio", "gpiozero.pins.lgpio", "rig.pins_lgpio"):
        sys.modules.pop(name, None)
