"""The lgpio pulse back-end against the strict fake ``lgpio`` (lg v0.2.2), in virtual time.

The fake plays queued trains by a :class:`VirtualClock` the pulser also reads,
so nothing here depends on how busy the machine is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakes.clock import VirtualClock

from rig.rail import PulseError
from rig.rail.drivers import DRIVERS
from rig.rail.profile import plan_move
from rig.rail.pulses import MoveControl
from rig.rail.pulses_lgpio import (
    LG_MIN_CYCLE_US,
    LgpioPulser,
    lgpio_min_period_ns,
    queue_entries,
)

FAKES = Path(__file__).parents[1] / "fakes"
STEP, DIR = 23, 24
# The example config (rig/examples/pi-hq-tmc2209.toml): 3200 steps/mm, 2 mm/s, 20 mm/s².
EXAMPLE_SPEED, EXAMPLE_ACCEL = 2.0 * 3200, 20.0 * 3200


@pytest.fixture
def clock():
    return VirtualClock()


@pytest.fixture
def lgpio(monkeypatch, clock):
    """The fake lgpio, importable as ``lgpio``, playing in virtual time."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "lgpio", raising=False)
    import lgpio as fake

    fake.reset(new_clock=clock)
    yield fake
    sys.modules.pop("lgpio", None)


def pulser_for(driver, lgpio, clock):
    return LgpioPulser(STEP, DIR, DRIVERS[driver], lgpio=lgpio, clock=clock)


def example_move(pulser, steps):
    return plan_move(steps, EXAMPLE_SPEED, EXAMPLE_ACCEL, pulser.min_period_ns)


def queued(lgpio):
    """(on µs, off µs, cycles) of every tx_pulse the pulser made."""
    return [(c[3], c[4], c[6]) for c in lgpio.calls if c[0] == "tx_pulse" and c[3:5] != (0, 0)]


# -- the fake refuses what lgpio refuses ---------------------------------------------


def test_the_fake_refuses_what_lgpio_refuses(lgpio, clock):
    handle = lgpio.gpiochip_open(0)
    lgpio.gpio_claim_output(handle, STEP, 0)
    with pytest.raises(lgpio.error, match="bad PWM micros"):
        lgpio.tx_pulse(handle, STEP, 2, 2, 0, 1)  # on + off must exceed 10 µs
    with pytest.raises(lgpio.error, match="bad PWM micros"):
        lgpio.tx_pulse(handle, STEP, 0, 0)  # a cancel with nothing playing
    rooms = [lgpio.tx_pulse(handle, STEP, 5, 1000, 0, 10) for _ in range(10)]
    assert rooms == list(range(9, -1, -1))  # ten slots, the playing one included
    with pytest.raises(lgpio.error, match="TX queue full"):
        lgpio.tx_pulse(handle, STEP, 5, 1000, 0, 10)
    assert lgpio.tx_pulse(handle, STEP, 0, 0) == 0  # a cancel while playing is fine
    other = lgpio.gpiochip_open(0)
    with pytest.raises(lgpio.error, match="GPIO busy"):
        lgpio.gpio_claim_output(other, STEP, 0)  # one owner per line


def test_a_new_train_starts_late_by_up_to_the_thread_sleep_and_one_cycle(lgpio, clock):
    handle = lgpio.gpiochip_open(0)
    lgpio.gpio_claim_output(handle, STEP, 0)
    delays = []
    for _ in range(20):
        clock.advance_ns(7_300_000)
        called = clock.now_ns()
        lgpio.tx_pulse(handle, STEP, 5, 995, 0, 1)
        delays.append(lgpio.played[-1].start_ns - called)
        clock.advance_ns(30_000_000)
        assert not lgpio.tx_busy(handle, STEP, lgpio.TX_PWM)
    assert all(0 < d <= 20_000_000 + 1_000_000 for d in delays)
    assert max(delays) > 5_000_000  # not at once: the idle thread sleeps up to 20 ms


# -- defect 1: every cycle is one lgpio accepts ----------------------------------------


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_move_queues_only_cycles_lgpio_accepts(lgpio, clock, driver):
    pulser = pulser_for(driver, lgpio, clock)
    assert pulser.min_period_ns == lgpio_min_period_ns(DRIVERS[driver]) >= LG_MIN_CYCLE_US * 1000
    for steps in (1, 2, 7, 600, 6400):
        result = pulser.run(example_move(pulser, steps), True, MoveControl())
        assert result.emitted == steps and result.exact and result.late_steps == 0
    assert lgpio.steps_played(0, STEP) == 1 + 2 + 7 + 600 + 6400
    entries = queued(lgpio)
    assert all(on + off >= LG_MIN_CYCLE_US for on, off, _ in entries)
    high = min(on for on, _, _ in entries)
    assert high * 1000 > DRIVERS[driver].min_high_ns
    pulser.close()


def test_the_fastest_move_a_driver_allows_runs_at_lgpio_s_shortest_cycle(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)  # 100 ns pulses: lgpio is the limit
    profile = plan_move(2000, max_speed=1e6, accel=1e9, min_period_ns=pulser.min_period_ns)
    result = pulser.run(profile, False, MoveControl())
    assert result.emitted == 2000
    assert min(on + off for on, off, _ in queued(lgpio)) == LG_MIN_CYCLE_US
    pulser.close()


# -- the queue holds enough motion that Python may be away -----------------------------


def test_ramps_are_grouped_into_stairs_that_keep_the_move_s_duration():
    cycles = [5590, 2316, 1777, 1497, 1319, 1193, 1097, 1020, 957, 905] + [156] * 1000
    entries = list(queue_entries(cycles))
    assert sum(count for _, count in entries) == len(cycles)
    planned = sum(cycles)
    played = sum(cycle * count for cycle, count in entries)
    assert planned <= played <= planned + len(entries)  # mean rounded up, never faster
    ramp = [entry for entry in entries if entry[0] != 156]
    assert len(ramp) < 7  # ten ramp steps in fewer stairs (the first steps are long alone)
    cruise = [count for cycle, count in entries if cycle == 156]
    assert cruise and all(156 * count <= 20_000 for count in cruise)  # chunks of ≤ 20 ms


def test_a_full_queue_holds_tens_of_ms_even_on_a_ramp(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)
    profile = example_move(pulser, 3200)  # 1 mm: ramps of 320 steps each way
    held = []

    def python_away(entry):  # whenever the queue is full, Python is busy elsewhere for 35 ms
        if lgpio.tx_room(0, STEP, lgpio.TX_PWM) == 0:
            held.append(lgpio.queued_ns(0, STEP))
            clock.advance_ns(35_000_000)

    lgpio.on_tx_pulse.append(python_away)
    result = pulser.run(profile, True, MoveControl())
    # One entry per ramp step held 2.4 ms of motion here: it would run dry every time.
    assert held and min(held) > 40_000_000
    assert result.emitted == 3200 and result.late_steps == 0
    assert lgpio.steps_played(0, STEP) == 3200
    pulser.close()


# -- stop, abort, underrun ---------------------------------------------------------------


def test_a_stop_queues_a_deceleration_tail_and_counts_exactly(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)
    profile = example_move(pulser, 16000)
    control = MoveControl()
    lgpio.on_tx_pulse.append(lambda e: e.cycles > 1 and e.on_us + e.off_us < 200 and control.stop())
    result = pulser.run(profile, False, control)

    assert result.stopped and result.exact and 0 < result.emitted < 16000
    assert lgpio.steps_played(0, STEP) == result.emitted  # every queued pulse went out
    tail = [on + off for on, off, _ in queued(lgpio)][-6:-1]
    assert tail == sorted(tail) and tail[0] < tail[-1]  # slowing down to the end
    pulser.close()


def test_an_abort_cancels_the_queue_and_says_the_count_is_an_estimate(lgpio, clock):
    pulser = pulser_for("a4988", lgpio, clock)
    control = MoveControl()
    lgpio.on_tx_pulse.append(lambda e: e.cycles > 20 and control.abort())
    result = pulser.run(example_move(pulser, 16000), True, control)
    assert result.aborted and not result.exact
    assert not lgpio.tx_active(0, STEP)
    assert 0 <= lgpio.steps_played(0, STEP) < 16000
    assert lgpio.level(0, STEP) == 0
    pulser.close()


def test_after_an_underrun_the_rest_of_the_move_ramps_up_from_rest(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)
    profile = example_move(pulser, 6400)
    starved = []

    def starve_once(entry):
        if entry.on_us + entry.off_us < 200 and not starved:
            starved.append(len(queued(lgpio)))
            clock.advance_ns(1_000_000_000)  # the feeder "was away" until the queue ran dry

    lgpio.on_tx_pulse.append(starve_once)
    result = pulser.run(profile, True, MoveControl())
    assert result.emitted == 6400 and result.exact and result.late_steps == 1
    assert lgpio.steps_played(0, STEP) == 6400
    periods = [on + off for on, off, _ in queued(lgpio)]
    resumed = periods[starved[0] : starved[0] + 3]
    assert resumed[0] == periods[0] and resumed[0] > resumed[1] > resumed[2]
    pulser.close()


# -- defect 1 (aftermath) and defect 2: errors and cancels -------------------------------


def test_an_lgpio_error_mid_move_silences_the_train_before_it_goes_up(lgpio, clock):
    pulser = pulser_for("drv8825", lgpio, clock)
    failed = []

    def fail_later(entry):
        if len(queued(lgpio)) == 5 and not failed:
            failed.append(True)
            lgpio.fail_next["tx_pulse"] = "bad PWM micros"

    lgpio.on_tx_pulse.append(fail_later)
    control = MoveControl()
    with pytest.raises(PulseError, match=r"bad PWM micros.*position is unknown"):
        pulser.run(example_move(pulser, 6400), True, control)
    assert not lgpio.tx_active(0, STEP)  # nothing left playing under a driver about to go off
    assert lgpio.level(0, STEP) == 0
    pulser.close()


def test_close_after_a_finished_move_does_not_cancel_an_idle_queue(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)
    pulser.run(example_move(pulser, 100), True, MoveControl())
    clock.advance_ns(50_000_000)
    pulser.close()  # lgpio refuses a cancel with nothing queued: close must not ask for one
    assert ("gpiochip_close", 0) in lgpio.calls
    cancels = [c for c in lgpio.calls if c[0] == "tx_pulse" and c[3:5] == (0, 0)]
    assert cancels == []


def test_close_while_a_train_plays_cancels_it(lgpio, clock):
    pulser = pulser_for("tmc2209", lgpio, clock)
    handle = 0
    lgpio.tx_pulse(handle, STEP, 5, 995, 0, 100)  # a train left playing
    pulser.close()
    assert not lgpio.tx_active(0, STEP)
    assert [c[0] for c in lgpio.calls][-3:] == ["gpio_free", "gpio_free", "gpiochip_close"]
