"""open_devices: simulated on request only, loud errors on real hardware, safe close."""

from __future__ import annotations

import sys

import pytest
from gpiozero.pins.mock import MockFactory

from rig.config import Config
from rig.devices import HardwareError, RigInUse, open_devices, rig_lock
from rig.sim.hardware.pins import BenchPin

FAST_RAIL = {
    "steps_per_rev": 200,
    "microsteps": 1,
    "lead_mm": 2.0,
    "max_speed_mm_s": 100.0,
    "accel_mm_s2": 5000.0,
    "homing": {"fast_mm_s": 50.0, "slow_mm_s": 5.0},
}


def config_in(tmp_path, **rail) -> Config:
    return Config.model_validate(
        {
            "rail": {**FAST_RAIL, **rail},
            "data": {"dir": str(tmp_path)},
            "sim": {"resolution": [320, 240], "preview_size": [160, 120]},
        }
    )


@pytest.fixture
def no_pi_modules(monkeypatch):
    """lgpio, RPi.GPIO and picamera2 are not importable (as on a laptop)."""
    for name in ("lgpio", "RPi", "RPi.GPIO", "picamera2"):
        monkeypatch.setitem(sys.modules, name, None)


def test_simulated_devices_work_together_and_close_safely(tmp_path):
    config = config_in(tmp_path)
    with open_devices(config, simulate=True) as devices:
        assert devices.simulated and devices.bench is not None
        carriage = devices.bench.carriage
        devices.rail.set_position(5.0)
        with devices.rail.hold(), devices.light.lit():
            devices.rail.move_to(11.0)
            frame = devices.camera.capture()
            assert frame.image.mean() > 20
            assert carriage.driver_enabled and devices.bench.light_level == 1.0
    assert not carriage.driver_enabled
    assert devices.bench.light_level == 0.0
    assert (tmp_path / "sim" / "rail-state.json").exists()
    assert (tmp_path / "sim" / "bench.json").exists()
    assert not (tmp_path / "rail-state.json").exists()  # the real rail's state is untouched


@pytest.mark.slow
def test_the_simulated_position_persists_between_sessions(tmp_path):
    config = config_in(tmp_path)
    with open_devices(config, simulate=True, with_camera=False) as devices:
        devices.rail.home()
        devices.rail.move_to(12.5)
    with open_devices(config, simulate=True, with_camera=False) as devices:
        assert devices.rail.state == "known"
        assert devices.rail.position_mm == devices.bench.carriage_mm == 12.5
        with pytest.raises(HardwareError, match="camera: not opened"):
            devices.camera  # noqa: B018


def test_real_hardware_without_lgpio_is_a_loud_error_not_a_simulation(tmp_path, no_pi_modules):
    with pytest.raises(HardwareError, match=r"^gpio: the lgpio pin factory failed") as info:
        open_devices(config_in(tmp_path), simulate=False)
    assert "apt install python3-lgpio" in str(info.value)
    assert "--sim" in str(info.value)


def test_auto_pin_factory_tries_both_and_reports_both(tmp_path, no_pi_modules):
    with pytest.raises(HardwareError) as info:
        open_devices(config_in(tmp_path, pin_factory="auto"), simulate=False)
    assert "lgpio pin factory failed" in str(info.value)
    assert "rpigpio pin factory failed" in str(info.value)


def test_the_lgpio_pulse_backend_without_lgpio_names_the_rail(tmp_path, no_pi_modules):
    factory = MockFactory(pin_class=BenchPin)
    with pytest.raises(HardwareError, match=r"^rail: .*lgpio"):
        open_devices(config_in(tmp_path, pulse_backend="lgpio"), False, pin_factory=factory)
    enable = factory.pin(25)
    assert enable.state  # ENABLE (active low) left high: disabled
    factory.close()


def test_missing_picamera2_names_the_camera_and_leaves_everything_safe(tmp_path, no_pi_modules):
    factory = MockFactory(pin_class=BenchPin)
    enable, led = factory.pin(25), factory.pin(18)
    # A crashed run left the driver enabled and the LED on.
    enable.function = "output"
    enable.state = 0
    led.function = "output"
    led.state = 1
    with pytest.raises(HardwareError, match=r"^camera: .*apt install python3-picamera2"):
        open_devices(config_in(tmp_path), simulate=False, pin_factory=factory)
    assert enable.state == 1  # driver disabled
    assert led.state == 0  # LED off
    assert enable.function == "input" and led.function == "input"  # released again
    factory.close()


def test_construction_first_makes_the_outputs_safe(tmp_path):
    factory = MockFactory(pin_class=BenchPin)
    enable, led = factory.pin(25), factory.pin(18)
    enable.function = led.function = "output"
    enable.state, led.state = 0, 1
    devices = open_devices(config_in(tmp_path), False, with_camera=False, pin_factory=factory)
    assert enable.state == 1 and led.state == 0
    devices.close()
    factory.close()


def test_close_finishes_safely_even_when_a_device_fails_to_close(tmp_path):
    devices = open_devices(config_in(tmp_path), simulate=True)
    carriage = devices.bench.carriage
    devices.rail.set_position(5.0)
    devices.rail.enable()
    devices.light.on()

    def broken():
        raise RuntimeError("camera wedged")

    devices.camera.close = broken
    with pytest.raises(RuntimeError, match="camera wedged"):
        devices.close()
    assert not carriage.driver_enabled
    assert devices.bench.light_level == 0.0
    assert (tmp_path / "sim" / "bench.json").exists()  # the bench still closed
    devices.close()  # once closed, stays closed


def test_the_rig_lock_is_exclusive(tmp_path):
    config = config_in(tmp_path)
    with rig_lock(config, simulate=False) as path:
        assert path == tmp_path / "rig.lock"
        with pytest.raises(RigInUse), rig_lock(config, simulate=False):
            pass
        with rig_lock(config, simulate=True) as sim_path:  # the simulator has its own
            assert sim_path == tmp_path / "sim" / "rig.lock"
    with rig_lock(config, simulate=False):
        pass  # released again
