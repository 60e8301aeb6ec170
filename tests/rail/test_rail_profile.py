"""The motion profile is a pure function: exact step counts, ramps, stop tails."""

import math
from itertools import pairwise

import pytest

from rig.rail.profile import plan_move


def speeds(profile):
    return [1e9 / gap for gap in profile.intervals()]


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 4, 5, 10, 199, 200, 201, 1000, 12345])
def test_exact_step_count(steps):
    profile = plan_move(steps, max_speed=10_000, accel=1e6, min_period_ns=2_000)
    assert profile.steps == steps
    assert len(list(profile.intervals())) == max(steps - 1, 0)
    assert [profile.interval(i) for i in range(profile.interval_count)] == list(profile.intervals())


def test_trapezoid_rises_cruises_and_falls_symmetrically():
    profile = plan_move(2000, max_speed=10_000, accel=1e6, min_period_ns=2_000)
    gaps = list(profile.intervals())
    assert profile.cruise_count > 0
    assert profile.accel_count == profile.decel_count
    assert gaps == gaps[::-1]
    peak = gaps.index(min(gaps))
    assert all(a >= b for a, b in pairwise(gaps[: peak + 1]))
    assert all(a <= b for a, b in pairwise(gaps[peak:]))
    assert min(gaps) == profile.cruise_ns == 100_000  # 10 000 steps/s
    # v² = 2 a s: reaching 10 000 steps/s at 1e6 steps/s² takes ~50 steps.
    assert 45 <= profile.accel_count <= 55


def test_acceleration_never_exceeds_the_limit():
    accel = 2e5
    profile = plan_move(3000, max_speed=5_000, accel=accel, min_period_ns=2_000)
    v = speeds(profile)
    gaps = [g / 1e9 for g in profile.intervals()]
    for i in range(1, len(v)):
        dv_dt = abs(v[i] - v[i - 1]) / ((gaps[i] + gaps[i - 1]) / 2)
        assert dv_dt <= accel * 1.01


def test_short_move_is_a_triangle():
    profile = plan_move(9, max_speed=10_000, accel=1e6, min_period_ns=2_000)
    gaps = list(profile.intervals())
    assert profile.cruise_count == 0
    assert min(gaps) > profile.cruise_ns  # never reached cruise speed
    assert gaps == gaps[::-1]
    assert gaps[0] == round(math.sqrt(2 / 1e6) * 1e9)  # first step at sqrt(2/a)


def test_cruise_respects_the_driver_minimum_period():
    profile = plan_move(500, max_speed=10_000_000, accel=1e9, min_period_ns=3_800)
    assert min(profile.intervals()) == 3_800


def test_stop_tail_decelerates_from_the_current_speed():
    profile = plan_move(2000, max_speed=10_000, accel=1e6, min_period_ns=2_000)
    # Mid-cruise: the tail is the planned ramp down, mirrored from rest.
    tail = profile.stop_tail(1000)
    assert tail == tuple(reversed(profile.ramp[: profile.accel_count]))
    # Mid-ramp: as many steps back down as were taken up.
    tail = profile.stop_tail(11)
    assert tail == tuple(reversed(profile.ramp[:10]))
    # Already decelerating: just finish the plan.
    assert profile.stop_tail(1990) is None
    # At rest (nothing or one step emitted): stop at once.
    assert profile.stop_tail(0) == ()
    assert profile.stop_tail(1) == ()


def test_bad_arguments():
    with pytest.raises(ValueError):
        plan_move(-1, 1000, 1000, 2000)
    with pytest.raises(ValueError):
        plan_move(10, 0, 1000, 2000)
    with pytest.raises(ValueError):
        plan_move(10, 1000, 0, 2000)


def test_from_rest_ramps_up_again_for_the_remaining_steps():
    profile = plan_move(2000, max_speed=10_000, accel=1e6, min_period_ns=2_000)
    again = profile.from_rest(700)
    assert again.steps == 700
    assert list(again.intervals()) == list(
        plan_move(700, max_speed=10_000, accel=1e6, min_period_ns=2_000).intervals()
    )
    short = profile.from_rest(5)
    assert list(short.intervals()) == list(plan_move(5, 10_000, 1e6, 2_000).intervals())
