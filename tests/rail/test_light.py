"""The LED light on mock pins: levels, polarity, and off on every way out."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from rig.config import LightConfig
from rig.light import Light

PIN = 18


@pytest.fixture
def factory():
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.close()


def test_dimmable_light_levels(factory):
    with Light(PIN, level=0.6, frequency=2000, pin_factory=factory) as light:
        pin = factory.pin(PIN)
        assert pin.state == 0 and not light.is_lit
        assert pin.frequency == 2000
        light.on()
        assert pin.state == pytest.approx(0.6) and light.level == pytest.approx(0.6)
        light.on(0.25)
        assert pin.state == pytest.approx(0.25)
        light.off()
        assert pin.state == 0
        with pytest.raises(ValueError):
            light.on(1.5)
    assert pin.state == 0


def test_active_low_light_is_off_when_the_pin_is_high(factory):
    light = Light(PIN, active_high=False, pin_factory=factory)
    pin = factory.pin(PIN)
    assert pin.state == 1  # off
    light.on(0.75)
    assert pin.state == pytest.approx(0.25)
    light.off()
    assert pin.state == 1
    light.close()
    assert pin.function == "input"  # released: the LED driver's pull resistor holds it off


def test_lit_switches_off_on_every_exit(factory):
    light = Light(PIN, pin_factory=factory)
    with light.lit(0.5):
        assert light.level == pytest.approx(0.5)
    assert not light.is_lit

    with pytest.raises(RuntimeError, match="capture failed"), light.lit():
        assert light.is_lit
        raise RuntimeError("capture failed")
    assert not light.is_lit
    light.close()
    light.close()  # idempotent


def test_on_off_light(factory):
    light = Light.from_config(LightConfig(pin=PIN, pwm=False), pin_factory=factory)
    pin = factory.pin(PIN)
    light.on()
    assert pin.state == 1 and light.is_lit
    with pytest.raises(ValueError, match="PWM"):
        light.on(0.5)
    light.off()
    assert pin.state == 0
    with pytest.raises(ValueError, match="PWM"):
        Light(17, pwm=False, level=0.3, pin_factory=factory)
    light.close()


def test_warm_up_only_when_switching_on_from_dark(factory):
    light = Light(PIN, warmup_s=0.05, pin_factory=factory)
    started = time.perf_counter()
    light.on()
    assert time.perf_counter() - started >= 0.05
    started = time.perf_counter()
    light.on(0.5)  # already lit: no second warm-up
    assert time.perf_counter() - started < 0.05
    light.close()
