"""`macrorig rail ...` through rig.cli.main: exit codes, output, one-line errors."""

from __future__ import annotations

import sys

import pytest
import rig_support

from rig.cli import main
from rig.config import load_config
from rig.devices import rig_lock


@pytest.fixture
def config_file(tmp_path):
    return str(rig_support.config_file(tmp_path))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_status_home_move_and_jog_on_the_simulated_rail(config_file, capsys):
    code, out, _ = run(capsys, "rail", "status", "--sim", "--config", config_file)
    assert code == 0
    assert "position     0.0000 mm (unknown)" in out  # a new rail knows nothing yet
    assert "driver       disabled" in out

    code, out, _ = run(capsys, "rail", "home", "--sim", "--config", config_file)
    assert code == 0 and out.startswith("homed; parked at 1.0000 mm (known")

    code, out, _ = run(capsys, "rail", "move", "11", "--sim", "--config", config_file)
    assert code == 0 and out.startswith("moved to 11.0000 mm (known")

    code, out, _ = run(capsys, "rail", "jog", "-2.5", "--sim", "--config", config_file)
    assert code == 0 and out.startswith("moved to 8.5000 mm (known")

    # A new invocation finds rail and carriage where the last one left them.
    code, out, _ = run(capsys, "rail", "status", "--sim", "--config", config_file)
    assert "position     8.5000 mm (known)" in out
    assert "switches     min: open, max: open" in out


@pytest.mark.slow
def test_errors_are_one_line_with_exit_status_2(config_file, capsys):
    code, _, err = run(capsys, "rail", "move", "11", "--sim", "--config", config_file)
    assert code == 2
    assert err == (
        "macrorig rail: error: cannot move to 11.000 mm: the position is unknown "
        "(home the rail, or set the position)\n"
    )
    run(capsys, "rail", "home", "--sim", "--config", config_file)
    code, _, err = run(capsys, "rail", "move", "60", "--sim", "--config", config_file)
    assert code == 2 and err.count("\n") == 1
    assert "60.000 mm refused" in err and "soft_max_mm" in err and "nothing moved" in err
    code, _, err = run(capsys, "rail", "move", "nan", "--sim", "--config", config_file)
    assert code == 2 and err.count("\n") == 1


def test_a_held_rig_lock_sends_the_command_to_the_daemon(config_file, capsys, monkeypatch):
    """Whoever holds the lock owns the rail: the CLI asks the daemon over HTTP — and
    says so in one line when it cannot reach it (nothing here listens)."""
    monkeypatch.setenv("MACRORIG_TOKEN", "t")
    config = load_config(config_file)
    with rig_lock(config, simulate=True):
        code, _, err = run(capsys, "rail", "status", "--sim", "--config", config_file)
    assert code == 2 and err.count("\n") == 1
    assert "cannot reach the macrorig daemon at http://127.0.0.1:8000" in err
    assert "the macrorig daemon owns the rail" in err


def test_real_hardware_failure_is_reported_not_simulated(config_file, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "lgpio", None)
    code, out, err = run(capsys, "rail", "status", "--config", config_file)
    assert code == 2 and out == ""
    assert err.startswith("macrorig rail: error: gpio: the lgpio pin factory failed")
    assert err.count("\n") == 1


def test_a_bad_config_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[rail.pins]\nstep = 41\n")
    code, _, err = run(capsys, "rail", "status", "--sim", "--config", str(path))
    assert code == 2 and err.count("\n") == 1
    assert "rail.pins.step: GPIO 41" in err and "macrorig config check" in err


@pytest.mark.slow
def test_ctrl_c_during_a_move_decelerates_and_keeps_the_position(
    config_file, capsys, monkeypatch, request
):
    import signal
    import threading

    import rig.cli.rail_cmd as rail_cmd

    main_thread = threading.main_thread().ident
    assert main_thread is not None
    # Ctrl-C as in a terminal: a suite started as a background job of a script inherits
    # SIGINT ignored (POSIX shells do that without job control).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))

    opened = {}
    real_open = rail_cmd.open_devices
    armed = []  # not while homing

    def open_and_share(*args, **kwargs):
        devices = real_open(*args, **kwargs)
        opened["devices"] = devices
        step_pin = devices.bench.pin(devices.rail.config.pins.step)
        follow = step_pin.observer

        def press_ctrl_c_at_step_200(pin, level):  # in the stepping thread, at that step
            follow(pin, level)
            if level and armed and devices.bench.carriage.steps_seen == 200:
                # To the main thread, where Python handles it (a process-directed kill
                # may land in any thread of the test process).
                signal.pthread_kill(main_thread, signal.SIGINT)

        step_pin.observer = press_ctrl_c_at_step_200
        return devices

    monkeypatch.setattr(rail_cmd, "open_devices", open_and_share)
    run(capsys, "rail", "home", "--sim", "--config", config_file)
    armed.append(True)  # the move opens a bench of its own: its steps count from 0
    code, _, err = run(capsys, "rail", "move", "45", "--sim", "--config", config_file)
    assert code == 130
    assert "stopped at" in err and "interrupted" in err
    carriage = opened["devices"].bench.carriage
    rail = opened["devices"].rail
    assert carriage.position_steps == rail.position_steps
    assert 100 + 200 <= rail.position_steps < 4500
