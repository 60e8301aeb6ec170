"""`macrorig rail release`: the service's ExecStopPost makes ENABLE and the LED safe.

Real hardware is gpiozero's MockFactory handed in through ``make_pin_factory``.
"""

from __future__ import annotations

import json
import sys

import pytest
from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory

import rig.devices as devices
from rig.cli import main
from rig.config import load_config
from rig.devices import rig_lock

CONFIG = """
[rail]
enable_active_low = {active_low}

[rail.pins]
step = 23
dir = 24
enable = 25
limit_min = 5
limit_max = 6

[light]
pin = 18
active_high = {led_active_high}

[data]
dir = "{data}"
"""


def write_config(tmp_path, *, active_low=True, led_active_high=True):
    path = tmp_path / "rig.toml"
    path.write_text(
        CONFIG.format(
            active_low=str(active_low).lower(),
            led_active_high=str(led_active_high).lower(),
            data=tmp_path / "data",
        )
    )
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mock_pins(monkeypatch):
    """The 'real' GPIO: a MockFactory, with the pins as a crashed daemon left them."""
    factory = MockFactory()
    made = []
    claimed = []
    pin = factory.pin

    def make(config):
        made.append(config)
        factory.pin = claiming  # from now on, record which pins release asks for
        return factory

    def claiming(number):
        claimed.append(number)
        return pin(number)

    monkeypatch.setattr(devices, "make_pin_factory", make)
    # No camera library, and no real GPIO library: release must need neither.
    for name in ("picamera2", "lgpio", "RPi", "RPi.GPIO"):
        monkeypatch.setitem(sys.modules, name, None)
    factory.made = made
    factory.claimed = claimed
    return factory


def left_driving(factory, levels):
    pins = {}
    for number, level in levels.items():
        pin = factory.pin(number)
        pin.function = "output"
        pin.state = level
        pins[number] = pin
    return pins


@pytest.mark.parametrize(
    ("active_low", "led_active_high", "disabled_level", "led_off_level"),
    [(True, True, 1, 0), (False, False, 0, 1)],
)
def test_release_disables_the_driver_and_switches_the_led_off(
    tmp_path, capsys, mock_pins, active_low, led_active_high, disabled_level, led_off_level
):
    config = write_config(tmp_path, active_low=active_low, led_active_high=led_active_high)
    # A crashed daemon left the driver enabled, the LED lit and STEP high.
    pins = left_driving(mock_pins, {25: 1 - disabled_level, 18: 1 - led_off_level, 23: 1, 24: 1})
    history = {n: len(pins[n].states) for n in (25, 18)}

    code, out, err = run(capsys, "rail", "release", "--config", config)

    assert (code, err) == (0, "")
    assert out == "driver disabled (ENABLE GPIO 25), LED off (GPIO 18)\n"
    enable, led = pins[25], pins[18]
    assert [s.state for s in enable.states][-1] == disabled_level
    assert [s.state for s in led.states][-1] == led_off_level
    # Each went straight to its safe level: no glitch through the active level.
    assert [s.state for s in enable.states[history[25] :]] == [disabled_level]
    assert [s.state for s in led.states[history[18] :]] == [led_off_level]
    # Released again afterwards: the pull resistors hold the levels from now on.
    assert enable.function == "input" and led.function == "input"
    # Only ENABLE and the LED were claimed: not STEP, DIR or the switches.
    assert sorted(set(mock_pins.claimed)) == [18, 25]
    assert len(mock_pins.made) == 1


def test_a_held_lock_means_a_live_owner_so_nothing_is_touched(tmp_path, capsys, mock_pins):
    config_path = write_config(tmp_path)
    pins = left_driving(mock_pins, {25: 0, 18: 1})
    before = {n: len(p.states) for n, p in pins.items()}
    with rig_lock(load_config(config_path), simulate=False) as lock:
        code, out, err = run(capsys, "rail", "release", "--config", config_path)
    assert (code, err) == (0, "")
    assert out == (
        f"{lock} is held by a running macrorig (the daemon or a command); "
        "it owns the pins, left them alone\n"
    )
    assert mock_pins.made == []  # the GPIO was not even opened
    assert {n: len(p.states) for n, p in pins.items()} == before
    assert pins[25].state == 0 and pins[18].state == 1


def test_release_on_the_simulated_bench_keeps_the_carriage_where_it_is(tmp_path, capsys):
    config = write_config(tmp_path)
    run(capsys, "rail", "status", "--sim", "--config", config)  # a bench with a saved state
    bench_file = tmp_path / "data" / "sim" / "bench.json"
    before = json.loads(bench_file.read_text())

    code, out, err = run(capsys, "rail", "release", "--sim", "--config", config)

    assert (code, err) == (0, "")
    assert out == "driver disabled (ENABLE GPIO 25), LED off (GPIO 18) (simulated)\n"
    assert json.loads(bench_file.read_text()) == before
    code, out, _ = run(capsys, "rail", "status", "--sim", "--config", config)
    assert code == 0 and "driver       disabled" in out


def test_release_on_the_simulated_bench_respects_its_lock(tmp_path, capsys):
    config_path = write_config(tmp_path)
    with rig_lock(load_config(config_path), simulate=True):
        code, out, _ = run(capsys, "rail", "release", "--sim", "--config", config_path)
    assert code == 0 and "left them alone" in out and "/sim/rig.lock" in out


def test_without_gpio_it_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lgpio", None)
    code, out, err = run(capsys, "rail", "release", "--config", write_config(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("macrorig rail: error: gpio: the lgpio pin factory failed")
    assert err.count("\n") == 1


def test_a_pin_that_cannot_be_claimed_still_releases_the_other(tmp_path, capsys, mock_pins):
    config = write_config(tmp_path)
    pins = left_driving(mock_pins, {18: 1})
    holder = DigitalOutputDevice(25, pin_factory=mock_pins)  # someone else holds ENABLE
    code, out, err = run(capsys, "rail", "release", "--config", config)
    holder.close()
    assert code == 2 and out == ""
    assert err.startswith(
        "macrorig rail: error: gpio: could not release rail.pins.enable (GPIO 25)"
    )
    assert err.count("\n") == 1
    assert pins[18].state == 0  # the LED is off all the same


def test_a_bad_config_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[light]\npin = 41\n")
    code, _, err = run(capsys, "rail", "release", "--sim", "--config", str(path))
    assert code == 2 and err.count("\n") == 1 and "light.pin: GPIO 41" in err
