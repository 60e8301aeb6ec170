"""The real-rig rail path on a fake Pi (``pi_support``): gpiozero's lgpio pins and the
lgpio pulser over the strict fake lgpio, a carriage moved by the pulses that played."""

from __future__ import annotations

import sys

import pytest
from pi_support import (
    DIR,
    ENABLE,
    LED,
    LIMIT_MAX,
    LIMIT_MIN,
    PI4,
    PI5,
    STEP,
    example_config,
    fake_pi,
    forget_fake_pi,
)

from rig.cli import main
from rig.config import load_config
from rig.devices import open_devices, release_outputs
from rig.rail.drivers import DRIVERS


@pytest.fixture
def pi(monkeypatch):
    yield fake_pi(monkeypatch, PI4, {0})
    forget_fake_pi()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """One ``macrorig`` command, as its own process would see the GPIO."""
    sys.modules["lgpio"].new_process()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- README's step 4 on each driver: jog, move, home, status, release -----------------


@pytest.mark.slow
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_readme_step_4_runs_on_lgpio_with_each_driver(pi, tmp_path, capsys, driver):
    path = example_config(tmp_path, rail={"driver": driver, "microsteps": 16})
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
    config = load_config(example_config(tmp_path, rail=extra))
    pi.attach_carriage(config, at_mm=5.0)
    with open_devices(config, simulate=False, with_camera=False) as devices:
        devices.rail.set_position(5.0)
        devices.rail.move_to(6.0)
        assert pi.lgpio.carriage.position == 6 * 3200  # the pulses reached the carriage
    for gpio in (STEP, DIR, ENABLE, LIMIT_MIN, LIMIT_MAX, LED):
        assert pi.claims_on(gpio) == {expected}, gpio
    forget_fake_pi()
