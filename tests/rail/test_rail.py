"""The focus rail on the simulated bench: the carriage follows the STEP/DIR pins, not the rail.

Mechanics are small and fast (100 steps/mm, 100 mm/s) so moves take milliseconds.
Cross-thread tests synchronise on step counts and pin events, never on sleeps.
"""

from __future__ import annotations

import json
import threading
from itertools import pairwise
from typing import ClassVar

import pytest
from fakes.clock import VirtualClock

from rig.config import Config
from rig.rail import (
    FocusRail,
    HomingError,
    LimitSwitchError,
    PositionUnknownError,
    RailBusy,
    SoftLimitError,
)
from rig.rail.pulses import SYSTEM_CLOCK
from rig.sim.hardware.bench import SimBench

RAIL = {
    "steps_per_rev": 200,
    "microsteps": 2,
    "lead_mm": 4.0,  # 100 steps/mm
    "max_speed_mm_s": 100.0,  # 10 000 steps/s
    "accel_mm_s2": 5000.0,  # ~100-step ramps
    "homing": {"fast_mm_s": 50.0, "slow_mm_s": 5.0, "backoff_mm": 1.0},
}


def make_config(tmp_path, sim=None, **rail) -> Config:
    return Config.model_validate(
        {"rail": {**RAIL, **rail}, "data": {"dir": str(tmp_path)}, "sim": sim or {}}
    )


class ManualTimer:
    """Stands in for threading.Timer: the test decides when it fires."""

    def __init__(self, delay, function):
        self.delay, self.function = delay, function
        self.daemon = False
        self.started = self.cancelled = False
        ManualTimer.made.append(self)

    made: ClassVar[list[ManualTimer]] = []

    def start(self):
        self.started = True

    def cancel(self):
        self.cancelled = True

    def fire(self):
        if not self.cancelled:
            self.function()


@pytest.fixture
def rig(tmp_path):
    """Factory: ``rig(**rail_overrides)`` → (bench, rail), closed after the test."""
    opened = []

    def build(state=None, sim=None, timer=threading.Timer, clock=SYSTEM_CLOCK, **rail):
        config = make_config(tmp_path, sim=sim, **rail)
        bench = SimBench(config, clock=clock)
        rail_ = FocusRail(
            config.rail,
            state_path=state,
            pin_factory=bench.pin_factory,
            timer_factory=timer,
            clock=clock,
        )
        opened.append((bench, rail_))
        return bench, rail_

    yield build
    for bench, rail in reversed(opened):
        rail.close()
        bench.close()


def run_in_thread(function):
    outcome = {}

    def work():
        try:
            outcome["result"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    return thread, outcome


# -- pulses ---------------------------------------------------------------------------


@pytest.mark.parametrize("invert", [False, True])
def test_moves_emit_exact_pulse_counts_in_both_directions(rig, invert):
    bench, rail = rig(invert_direction=invert)
    carriage, dir_pin = bench.carriage, bench.pin(rail.config.pins.dir)
    rail.set_position(5.0)  # the carriage starts at sim.start_mm = 5 mm
    assert carriage.position_steps == rail.position_steps == 500

    result = rail.move_to(15.0)
    assert result.steps_emitted == carriage.steps_seen == 1000
    assert carriage.position_steps == rail.position_steps == 1500
    assert bool(dir_pin.state) is (not invert)  # forward

    rail.move_to(7.25)
    assert carriage.steps_seen == 1000 + 775
    assert carriage.position_steps == rail.position_steps == 725
    assert bool(dir_pin.state) is invert  # backward
    assert carriage.ignored_steps == carriage.lost_steps == 0
    assert list(carriage.violations) == []


def test_dir_is_set_before_the_first_step_for_at_least_the_setup_time(rig):
    bench, rail = rig(driver="a4988")
    rail.set_position(5.0)
    for target in (6.0, 5.5, 7.0, 6.0):
        rail.move_to(target)
    setups = list(bench.carriage.dir_setup_ns)
    assert len(setups) == 4  # one per direction change (the first move sets DIR too)
    assert min(setups) >= 1_000
    assert list(bench.carriage.violations) == []


def test_a_hiccup_is_never_caught_up_with_back_to_back_steps(rig):
    # Virtual time: the pulses, the carriage and this test share one clock, so the 5 ms
    # "preemption" below is exactly 5 ms and a busy machine cannot blur the gaps.
    clock = VirtualClock()
    bench, rail = rig(clock=clock)
    rail.set_position(5.0)
    step_pin = bench.pin(rail.config.pins.step)
    follow = step_pin.observer
    rises: list[int] = []

    def observe(pin, level):
        follow(pin, level)
        if level:
            rises.append(clock.now_ns())
            if len(rises) == 400:  # mid-cruise: the scheduler "preempts" us for 5 ms
                clock.advance_ns(5_000_000)

    step_pin.observer = observe
    result = rail.move_to(15.0)
    assert result.late_steps == 1 and rail.late_steps == result.late_steps
    after = [b - a for a, b in pairwise(rises[399:421])]
    cruise_ns = 100_000
    assert after[0] >= 5_000_000  # the hiccup itself
    # Without re-basing, ~50 missed steps would follow back to back (0 ns apart here).
    assert min(after) >= 0.5 * cruise_ns
    # 5 ms is 50 intervals: the motor stopped, so it ramps up again from rest (the
    # first gap of a ramp, sqrt(2 / a), is 14 cruise intervals here).
    first_gap_from_rest = 1e9 * (2 / (5000 * 100)) ** 0.5
    assert after[1] >= 0.9 * first_gap_from_rest
    assert after[1] > after[2] > after[3]  # and speeds up again
    assert bench.carriage.position_steps == rail.position_steps == 1500
    assert list(bench.carriage.violations) == []


# -- backlash -------------------------------------------------------------------------


@pytest.mark.parametrize("approach", ["forward", "backward"])
def test_every_move_ends_approaching_from_the_configured_side(rig, approach):
    bench, rail = rig(backlash_mm=0.5, approach=approach)
    dir_pin = bench.pin(rail.config.pins.dir)
    rail.set_position(20.0)
    bench.carriage.position_steps = 2000
    forward_level = True  # not inverted

    down = rail.move_to(10.0)
    up = rail.move_to(30.0)
    if approach == "forward":
        assert down.steps_emitted == 1000 + 2 * 50  # overshoot to 9.5 mm and back
        assert up.steps_emitted == 2000
    else:
        assert down.steps_emitted == 1000
        assert up.steps_emitted == 2000 + 2 * 50  # overshoot to 30.5 mm and back
    assert bool(dir_pin.state) is (forward_level if approach == "forward" else not forward_level)
    assert bench.carriage.position_steps == rail.position_steps == 3000


def test_backlash_overshoot_stays_inside_the_soft_limits(rig):
    bench, rail = rig(backlash_mm=0.5, approach="forward", soft_min_mm=0.5)
    rail.set_position(5.0)
    result = rail.move_to(0.7)  # overshoot would be 0.2 mm: clamped to 0.5 mm
    assert result.steps_emitted == 450 + 20
    assert bench.carriage.position_steps == rail.position_steps == 70


# -- limits ---------------------------------------------------------------------------


def test_soft_limit_refusal_moves_nothing(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    step_pin, enable_pin = bench.pin(rail.config.pins.step), bench.pin(rail.config.pins.enable)
    step_history, enable_history = list(step_pin.states), list(enable_pin.states)

    with pytest.raises(SoftLimitError, match=r"60\.000 mm.*soft_max_mm = 49\.500") as info:
        rail.move_to(60.0)
    assert "nothing moved" in str(info.value)
    with pytest.raises(SoftLimitError, match=r"0\.200 mm.*soft_min_mm"):
        rail.move_to(0.2)
    with pytest.raises(SoftLimitError):
        rail.move_by(-4.9)

    assert list(step_pin.states) == step_history  # not a single STEP edge
    assert list(enable_pin.states) == enable_history  # the driver was not even enabled
    assert bench.carriage.steps_seen == 0
    assert rail.position_mm == 5.0 and rail.state == "known"


def test_a_limit_switch_stops_the_move_and_marks_the_position(rig):
    bench, rail = rig()
    rail.set_position(20.0)  # wrong: the carriage is really at 5 mm
    with pytest.raises(LimitSwitchError, match="limit_min") as info:
        rail.move_to(10.0)
    assert "unknown" in str(info.value)
    assert bench.carriage.position_steps == 0  # stopped on the step that pressed it
    assert bench.carriage.lost_steps == 0
    assert rail.position_mm == 0.0
    assert rail.state == "unknown"
    assert rail.switch_triggered("min") is True
    assert not bench.carriage.driver_enabled  # an error after motion began: motor released

    # Pressing on into the switch is refused; moving away from it is fine.
    with pytest.raises(LimitSwitchError, match="pressed"):
        rail.move_by(-1.0)
    assert bench.carriage.position_steps == 0
    rail.move_by(2.0)
    assert bench.carriage.position_steps == rail.position_steps == 200
    assert rail.switch_triggered("min") is False


def test_max_switch_with_normally_closed_wiring(rig):
    bench, rail = rig(
        switches={"pull": "up", "active_high": True},
        travel_mm=30.0,
        soft_max_mm=29.0,
        sim={"start_mm": 25.0},
    )
    rail.set_position(10.0)  # really 25 mm
    with pytest.raises(LimitSwitchError, match="limit_max"):
        rail.move_to(28.0)
    assert bench.carriage.position_steps == 3000
    assert rail.position_mm == 30.0 and rail.state == "unknown"


def test_homing_finds_the_switch_and_parks_off_it(rig):
    bench, rail = rig()
    assert rail.state == "unknown"
    with pytest.raises(PositionUnknownError):
        rail.move_to(10.0)
    result = rail.home()
    assert not result.stopped
    assert rail.state == "known"
    assert rail.position_mm == pytest.approx(1.0)  # parked backoff_mm off the switch
    assert bench.carriage.position_steps == rail.position_steps == 100
    assert rail.switch_triggered("min") is False
    assert list(bench.carriage.violations) == []
    rail.move_to(11.0)
    assert bench.carriage.position_mm == pytest.approx(11.0)


def test_homing_needs_its_switch(rig):
    _bench, rail = rig(pins={"limit_min": False})
    with pytest.raises(HomingError, match="limit_min"):
        rail.home()


# -- threads ----------------------------------------------------------------------------


def test_stop_from_another_thread_decelerates_and_keeps_the_count_exact(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    thread, outcome = run_in_thread(lambda: rail.move_to(45.0))
    assert bench.carriage.wait_for_steps(500, timeout=10)
    seen_at_stop = bench.carriage.steps_seen
    rail.stop()
    thread.join(10)
    result = outcome["result"]
    assert result.stopped
    assert 500 <= result.steps_emitted < 4000
    # The deceleration is the ~100-step ramp, not an instant stop nor the rest of the move.
    assert 0 <= result.steps_emitted - seen_at_stop <= 140
    assert bench.carriage.position_steps == rail.position_steps == 500 + result.steps_emitted
    assert not bench.carriage.driver_enabled  # a cancel releases the motor at once


def test_emergency_stop_is_immediate_and_still_exact(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    thread, outcome = run_in_thread(lambda: rail.move_to(45.0))
    assert bench.carriage.wait_for_steps(300, timeout=10)
    rail.emergency_stop()
    thread.join(10)
    assert outcome["result"].stopped
    assert bench.carriage.position_steps == rail.position_steps
    assert not bench.carriage.driver_enabled
    # Released at once: known only if it stopped on a full step (2 microsteps here).
    assert rail.state == ("known" if rail.position_steps % 2 == 0 else "unknown")


def test_a_second_move_at_the_same_time_is_refused(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    thread, outcome = run_in_thread(lambda: rail.move_to(45.0))
    assert bench.carriage.wait_for_steps(100, timeout=10)
    with pytest.raises(RailBusy, match="busy"):
        rail.move_by(1.0)
    with pytest.raises(RailBusy):
        rail.home()
    rail.stop()
    thread.join(10)
    assert "error" not in outcome
    assert bench.carriage.position_steps == rail.position_steps


# -- state ------------------------------------------------------------------------------


def test_position_is_persisted_and_a_clean_close_keeps_it_known(rig, tmp_path):
    state = tmp_path / "rail-state.json"
    _bench, rail = rig(state=state)
    rail.set_position(5.0)
    rail.move_to(12.34)
    saved = json.loads(state.read_text())
    assert saved["position_steps"] == 1234 and saved["clean"] is False
    rail.close()
    assert json.loads(state.read_text())["clean"] is True

    _bench2, again = rig(state=state)
    assert again.state == "known" and again.position_mm == pytest.approx(12.34)


def test_an_unclean_stop_leaves_the_position_unknown(rig, tmp_path):
    state = tmp_path / "rail-state.json"
    _bench, rail = rig(state=state)
    rail.set_position(5.0)
    rail.move_to(8.0)
    # The process "dies" here: no close(). The next start reads the file as left.
    _bench2, after_crash = rig(state=state)
    assert after_crash.state == "unknown"
    assert after_crash.position_mm == pytest.approx(8.0)  # kept as a best guess


def test_changed_mechanics_make_the_saved_position_unknown(rig, tmp_path):
    state = tmp_path / "rail-state.json"
    _bench, rail = rig(state=state)
    rail.set_position(10.0)
    rail.close()
    _bench2, rebuilt = rig(
        state=state,
        microsteps=4,
        lead_mm=4.0,
        max_speed_mm_s=50.0,
        homing={"fast_mm_s": 50.0, "slow_mm_s": 5.0},
    )
    assert rebuilt.state == "unknown"
    assert rebuilt.position_mm == pytest.approx(10.0)


def test_disabling_between_full_steps_loses_the_position(rig):
    bench, rail = rig()  # 2 microsteps: odd positions are between full steps
    rail.set_position(5.0)
    rail.move_by_steps(2)
    rail.disable()
    assert rail.state == "known"
    rail.move_by_steps(1)
    rail.disable()
    assert not bench.carriage.driver_enabled
    assert rail.state == "unknown"


# -- hold and idle disable ----------------------------------------------------------------


def test_idle_disable_after_the_timeout_and_hold_during_a_stack(rig):
    ManualTimer.made = []
    bench, rail = rig(timer=ManualTimer, idle_disable_s=7.5)
    rail.set_position(5.0)
    rail.move_to(6.0)
    assert bench.carriage.driver_enabled
    timer = ManualTimer.made[-1]
    assert timer.delay == 7.5 and timer.started and timer.daemon
    timer.fire()
    assert not bench.carriage.driver_enabled and not rail.enabled

    with rail.hold():
        assert bench.carriage.driver_enabled
        armed = len(ManualTimer.made)
        for target in (6.5, 7.0, 7.5):
            rail.move_to(target)
        assert len(ManualTimer.made) == armed  # no idle timer while held
        assert bench.carriage.driver_enabled
    assert ManualTimer.made[-1].started
    ManualTimer.made[-1].fire()
    assert not bench.carriage.driver_enabled


def test_an_error_inside_a_hold_releases_the_motor_at_once(rig):
    ManualTimer.made = []
    bench, rail = rig(timer=ManualTimer)
    rail.set_position(5.0)
    with pytest.raises(RuntimeError, match="stack failed"), rail.hold():
        rail.move_to(6.0)
        raise RuntimeError("stack failed")
    assert not bench.carriage.driver_enabled
    assert all(timer.cancelled or not timer.started for timer in ManualTimer.made)


def test_a_refused_move_inside_a_hold_keeps_holding(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    with rail.hold():
        rail.move_to(6.0)
        with pytest.raises(SoftLimitError):
            rail.move_to(99.0)
        assert bench.carriage.driver_enabled  # nothing moved, nothing to release


def test_a_superseded_idle_timer_does_nothing(rig):
    ManualTimer.made = []
    bench, rail = rig(timer=ManualTimer)
    rail.set_position(5.0)
    rail.move_to(6.0)
    first = ManualTimer.made[-1]
    rail.move_to(7.0)
    assert first.cancelled
    first.function()  # a timer thread that fired just as it was cancelled
    assert bench.carriage.driver_enabled


def test_idle_disable_with_a_real_timer(rig):
    bench, rail = rig(idle_disable_s=0.05)
    rail.set_position(5.0)
    rail.move_to(6.0)
    assert bench.carriage.wait_for_driver(enabled=False, timeout=5)
    assert rail.state == "known"  # 6 mm is on a full step


def test_close_always_disables_the_driver(rig, tmp_path):
    bench, rail = rig(state=tmp_path / "s.json")
    rail.set_position(5.0)
    with rail.hold():
        rail.move_to(6.0)
        assert bench.carriage.driver_enabled
        rail.close()
    assert not bench.carriage.driver_enabled
    rail.close()  # idempotent


def test_an_error_after_close_inside_a_hold_is_not_masked(rig):
    bench, rail = rig()
    rail.set_position(5.0)
    with pytest.raises(RuntimeError, match="shutting down"), rail.hold():
        rail.close()
        raise RuntimeError("shutting down")
    assert not bench.carriage.driver_enabled


def test_a_part_failing_to_open_closes_the_others_even_if_one_fails_to_close(tmp_path, monkeypatch):
    from rig.rail import focus_rail
    from rig.rail.pulses_software import SoftwarePulser

    def broken_switch(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the limit_min switch could not be opened")

    def failing_close(self: SoftwarePulser) -> None:
        raise OSError("STEP pin stuck")

    monkeypatch.setattr(focus_rail, "LimitSwitch", broken_switch)
    monkeypatch.setattr(SoftwarePulser, "close", failing_close)
    config = make_config(tmp_path)
    with SimBench(config) as bench:
        with pytest.raises(RuntimeError, match="limit_min switch could not be opened"):
            FocusRail(config.rail, pin_factory=bench.pin_factory, pulse_backend="software")
        enable = bench.pin(config.rail.pins.enable)
        assert enable.function == "input"  # ENABLE was released too, after the failing close
        assert not bench.carriage.driver_enabled


def test_status_reports_the_rail(rig):
    _bench, rail = rig()
    rail.set_position(5.0)
    status = rail.status()
    assert status["position_mm"] == 5.0 and status["state"] == "known"
    assert status["steps_per_mm"] == 100.0 and status["limit_min"] is False
    json.dumps(status)
