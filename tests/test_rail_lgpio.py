"""The lgpio pulse back-end against a fake ``lgpio`` that plays the queue in real time."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from rig.config import Config
from rig.rail import FocusRail
from rig.rail.drivers import DRIVERS
from rig.rail.profile import plan_move
from rig.rail.pulses import MoveControl
from rig.rail.pulses_lgpio import SEGMENT_MAX_US, LgpioPulser

FAKES = Path(__file__).parent / "fakes"
STEP, DIR = 23, 24


@pytest.fixture
def lgpio(monkeypatch):
    """The fake lgpio, importable as ``lgpio`` for the duration of the test."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "lgpio", raising=False)
    import lgpio as fake

    fake.reset()
    yield fake
    sys.modules.pop("lgpio", None)


def expand(pulses):
    """Per-step periods (µs) of everything queued on the STEP pin."""
    return [p.on_us + p.off_us for p in pulses if p.gpio == STEP for _ in range(p.cycles)]


def test_queued_segments_match_the_profile(lgpio):
    pulser = LgpioPulser(STEP, DIR, DRIVERS["drv8825"], lgpio=lgpio)
    profile = plan_move(600, max_speed=20_000, accel=4e6, min_period_ns=pulser.min_period_ns)
    result = pulser.run(profile, True, MoveControl())

    assert result.emitted == 600 and result.exact and not result.stopped
    shortest = pulser.min_period_ns // 1000
    expected = [max(round(gap / 1000), shortest) for gap in profile.intervals()] + [shortest]
    assert expand(lgpio.pulses) == expected
    assert {p.on_us for p in lgpio.pulses} == {3}  # DRV8825: 1.9 µs rounded up, +1 µs margin
    assert all(p.offset == 0 for p in lgpio.pulses)
    # Ramps are one entry per step; the cruise is grouped into chunks of ≤ 20 ms.
    grouped = [p for p in lgpio.pulses if p.cycles > 1]
    assert grouped and all(p.cycles * (p.on_us + p.off_us) <= SEGMENT_MAX_US for p in grouped)
    # DIR was written before the first pulse started, by at least the setup time.
    dir_written = [t for t, gpio, _level in lgpio.writes if gpio == DIR][-1]
    assert lgpio.pulses[0].start - dir_written >= DRIVERS["drv8825"].dir_setup_ns / 1e9
    assert ("gpio_write", 0, DIR, 1) in lgpio.calls
    pulser.close()
    assert ("gpiochip_close", 0) in lgpio.calls


def test_a_stop_queues_a_deceleration_tail_and_counts_exactly(lgpio):
    pulser = LgpioPulser(STEP, DIR, DRIVERS["tmc2209"], lgpio=lgpio)
    profile = plan_move(4000, max_speed=20_000, accel=4e6, min_period_ns=pulser.min_period_ns)
    control = MoveControl()
    cruising = threading.Event()
    lgpio.on_tx_pulse.append(lambda pulse: pulse.cycles > 1 and cruising.set())
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(r=pulser.run(profile, False, control)))
    thread.start()
    assert cruising.wait(10)
    control.stop()
    thread.join(10)

    result = outcome["r"]
    assert result.stopped and result.exact and 0 < result.emitted < 4000
    periods = expand(lgpio.pulses)
    assert len(periods) == result.emitted  # every queued pulse went out: the count is exact
    tail = periods[-21:-1]  # (the very last period is only the final step's low time)
    assert tail == sorted(tail)  # slowing down to the end
    assert lgpio.cancels == []
    pulser.close()


def test_an_abort_cancels_the_queue_and_says_the_count_is_an_estimate(lgpio):
    pulser = LgpioPulser(STEP, DIR, DRIVERS["a4988"], lgpio=lgpio)
    profile = plan_move(4000, max_speed=20_000, accel=4e6, min_period_ns=pulser.min_period_ns)
    control = MoveControl()
    lgpio.on_tx_pulse.append(lambda pulse: pulse.cycles > 1 and control.abort())
    result = pulser.run(profile, True, control)
    assert result.aborted and not result.exact
    assert lgpio.cancels and lgpio.cancels[-1][1] == STEP
    assert 0 <= result.emitted < 4000
    assert ("gpio_write", 0, STEP, 0) in lgpio.calls
    pulser.close()


def test_the_rail_drives_lgpio_when_asked(lgpio, tmp_path):
    config = Config.model_validate(
        {
            "rail": {
                "pulse_backend": "lgpio",
                "steps_per_rev": 200,
                "microsteps": 1,
                "lead_mm": 2.0,
                "max_speed_mm_s": 50.0,
                "accel_mm_s2": 5000.0,
                "homing": {"fast_mm_s": 20.0},
            }
        }
    )
    factory = MockFactory()
    with FocusRail(config.rail, pin_factory=factory) as rail:
        rail.set_position(10.0)
        result = rail.move_to(12.0)
        assert result.steps_emitted == 200 and rail.position_mm == 12.0
        assert rail.state == "known"
        assert sum(p.cycles for p in lgpio.pulses) == 200
        assert not factory.pin(config.rail.pins.enable).state  # ENABLE active low: enabled
    calls = [c[0] for c in lgpio.calls]
    assert calls.count("gpio_free") == 2 and calls[-1] == "gpiochip_close"
    assert factory.pin(config.rail.pins.enable).state  # high again: disabled


def test_after_an_underrun_the_rest_of_the_move_ramps_up_from_rest(lgpio):
    pulser = LgpioPulser(STEP, DIR, DRIVERS["tmc2209"], lgpio=lgpio)
    profile = plan_move(1500, max_speed=20_000, accel=4e6, min_period_ns=pulser.min_period_ns)
    drained = []

    def starve_once(pulse):
        if pulse.cycles > 1 and not drained:
            drained.append(len(expand(lgpio.pulses)))
            lgpio.drain()  # the feeder "was away" until the queue ran dry

    lgpio.on_tx_pulse.append(starve_once)
    result = pulser.run(profile, True, MoveControl())
    assert result.emitted == 1500 and result.exact and not result.stopped
    assert result.late_steps == 1  # one underrun
    periods = expand(lgpio.pulses)
    assert len(periods) == 1500
    first = periods[0]  # the first ramp step from rest
    resumed = periods[drained[0] : drained[0] + 3]
    assert resumed[0] == first and resumed[0] > resumed[1] > resumed[2]
    pulser.close()
