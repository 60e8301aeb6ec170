"""Config validation: messages name the dotted key and the fix; `macrorig config check`."""

from __future__ import annotations

from pathlib import Path

import pytest

import rig
from rig.cli import main
from rig.config import Config, ConfigError, load_config
from rig.rail.drivers import DRIVERS

EXAMPLE = Path(rig.__file__).parent / "examples" / "pi-hq-tmc2209.toml"


def problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "rig.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_defaults_are_valid(monkeypatch, tmp_path):
    monkeypatch.setenv("MACRORIG_DATA", str(tmp_path / "data"))
    config = load_config(None)
    assert config.rail.steps_per_mm == 3200
    assert config.data_dir == tmp_path / "data"
    assert config.rail.pins.limit_min == 5


def test_the_documented_example_loads():
    config = load_config(EXAMPLE)
    assert config.rail.driver == "tmc2209"
    assert config.rail.lead_mm == 1.0 and config.rail.steps_per_mm == 3200
    assert config.camera.resolution == (4056, 3040)
    assert config.light.level == 0.8
    text = EXAMPLE.read_text()
    for key in Config.model_fields["rail"].annotation.model_fields:
        assert f"{key} =" in text or f"[rail.{key}]" in text, f"rail.{key} is not documented"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[rail.pins]\nstep = 41\n",
            "rail.pins.step: GPIO 41 does not exist on a Raspberry Pi header (use 2–27)",
        ),
        (
            "[rail.pins]\nenable = 18\n",
            "rail.pins.enable and light.pin both use GPIO 18 (give each its own pin)",
        ),
        ("[rail]\nleed_mm = 2.0\n", "rail.leed_mm: unknown key (known keys here: driver, pins,"),
        ("[serve]\nport = 8000\n", "serve: unknown section (known sections: rail, camera,"),
        ("[rail]\ndriver = 'a4989'\n", "rail.driver: 'a4989' is not allowed; input should be"),
        (
            "[rail]\ndriver = 'a4988'\nmicrosteps = 32\n",
            "rail.microsteps: the A4988 supports at most 16 microsteps (use 16 or fewer)",
        ),
        ("[rail]\nmicrosteps = 12\n", "rail.microsteps: 12 is not a power of two"),
        (
            "[rail]\nsoft_max_mm = 60.0\n",
            "rail.soft_max_mm: 60.0 is beyond the travel (rail.travel_mm = 50.0); use at most 50.0",
        ),
        ("[rail]\nlead_mm = '1'\n", "rail.lead_mm: input should be a valid number (got '1')"),
        ("[rail]\ninvert_direction = 'yes'\n", "rail.invert_direction: input should be a valid"),
        ("[rail]\nlead_mm = -1.0\n", "rail.lead_mm: input should be greater than 0 (got -1.0)"),
        ("[rail.switches]\npull = 'off'\n", "rail.switches.active_high: required with pull"),
        ("[rail.homing]\nfast_mm_s = 9.0\n", "rail.homing.fast_mm_s: must not exceed rail.max"),
        ("[light]\npwm = false\nlevel = 0.5\n", "light.level: 0.5: dimming needs pwm = true"),
        ("[camera]\nresolution = [4056, 3041]\n", "camera.resolution: 4056×3041: width and"),
        ("[camera]\npreview_size = [8000, 100]\n", "camera.preview_size: must not exceed"),
        ("[rail\n", "invalid TOML: "),
    ],
)
def test_messages_name_the_key_and_the_fix(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert any(line.startswith(expected) for line in found), found


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_rail_driver_accepts_every_driver_in_the_registry(driver):
    config = Config.model_validate({"rail": {"driver": driver, "microsteps": 8}})
    assert config.rail.driver == driver


def test_an_unknown_driver_is_refused_naming_every_registered_one(tmp_path):
    (line,) = problems(tmp_path, "[rail]\ndriver = 'l298n'\n")
    assert all(f"'{name}'" in line for name in DRIVERS)


def test_every_problem_is_reported_once_per_line(tmp_path):
    found = problems(
        tmp_path, "[rail]\ndriver = 'x'\nlead_mm = 0\n[rail.pins]\nstep = 1\n[light]\npin = 99\n"
    )
    assert len(found) == 4
    assert all("\n" not in line for line in found)
    assert [line.split(":")[0] for line in found] == [
        "rail.driver",
        "rail.pins.step",
        "rail.lead_mm",
        "light.pin",
    ]


def test_absent_switches_and_relative_data_dir(tmp_path):
    path = tmp_path / "conf" / "rig.toml"
    path.parent.mkdir()
    path.write_text("[rail.pins]\nlimit_max = false\n[data]\ndir = 'state'\n")
    config = load_config(path)
    assert config.rail.pins.limit_max is None
    assert config.data_dir == path.parent / "state"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_config_check_ok(capsys):
    assert main(["config", "check", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK\n")
    assert "3200 steps/mm" in out and "soft limits 0.5–49.5 mm" in out
    assert "STEP GPIO 23" in out and "light GPIO 18" in out


def test_config_check_lists_problems_and_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[rail.pins]\nstep = 41\ndir = 41\n")
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: rail.pins.step: GPIO 41 does not exist on a Raspberry Pi header (use 2–27)",
        f"{path}: rail.pins.dir: GPIO 41 does not exist on a Raspberry Pi header (use 2–27)",
    ]
    assert main(["config", "check", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
