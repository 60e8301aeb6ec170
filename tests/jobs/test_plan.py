"""Stack plans: positions, validation, the DOF calculator, the rig's checks."""

from __future__ import annotations

from collections import namedtuple

import pytest
from pydantic import ValidationError

from rig import plan as plan_module
from rig.plan import PlanError, StackPlan, check_plan, depth_of_field_um, recommended_step_um

LIMITS = (0.5, 49.5)


def test_count_spreads_frames_evenly_from_start_to_end():
    p = StackPlan(start_mm=10, end_mm=12, count=5)
    assert p.positions() == pytest.approx([10, 10.5, 11, 11.5, 12])


def test_step_derives_the_count_and_shortens_only_the_last_step():
    p = StackPlan(start_mm=10, end_mm=11.05, step_um=250)
    pos = p.positions()
    assert pos == pytest.approx([10, 10.25, 10.5, 10.75, 11.0, 11.05])
    assert p.frame_count == 6
    assert max(pos) == 11.05  # never beyond the end


def test_a_step_that_divides_the_range_lands_exactly():
    assert StackPlan(start_mm=5, end_mm=6, step_um=250).positions() == pytest.approx(
        [5, 5.25, 5.5, 5.75, 6]
    )


def test_plans_run_backwards_too():
    assert StackPlan(start_mm=12, end_mm=10, count=3).positions() == pytest.approx([12, 11, 10])
    assert StackPlan(start_mm=12, end_mm=11.3, step_um=300).positions() == pytest.approx(
        [12, 11.7, 11.4, 11.3]
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"start_mm": 10, "end_mm": 12}, "either step_um or count"),
        ({"start_mm": 10, "end_mm": 12, "count": 5, "step_um": 100}, "either step_um or count"),
        ({"start_mm": 10, "end_mm": 10, "count": 5}, "nothing to stack"),
        ({"start_mm": 10, "end_mm": 12, "count": 1}, "greater than or equal to 2"),
        ({"start_mm": 10, "end_mm": 12, "count": 5001}, "less than or equal to 5000"),
        ({"start_mm": 10, "end_mm": 12, "step_um": 0}, "greater than or equal to 0.1"),
        ({"start_mm": 10, "end_mm": 12, "step_um": -5}, "greater than or equal to 0.1"),
        ({"start_mm": 10, "end_mm": 12, "step_um": 5e-324}, "greater than or equal to 0.1"),
        ({"start_mm": 300.0, "end_mm": 1e300, "count": 3}, "less than or equal to 1000"),
        ({"start_mm": 0, "end_mm": 40, "step_um": 1}, "at most 5000"),
        ({"start_mm": float("nan"), "end_mm": 12, "count": 5}, "finite number"),
        ({"start_mm": 10, "end_mm": float("inf"), "count": 5}, "finite number"),
        ({"end_mm": 12, "count": 5}, "give start_mm and end_mm"),
        ({"start_mm": 10, "end_mm": 12, "count": 5, "led_level": 1.5}, "less than or equal to 1"),
        ({"start_mm": 10, "end_mm": 12, "count": 5, "outputs": []}, "at least one output"),
        ({"start_mm": 10, "end_mm": 12, "count": 5, "surprise": 1}, "Extra inputs"),
        (
            {"start_mm": 10, "end_mm": 12, "count": 5, "exposure": {"mode": "fixed"}},
            "needs exposure_us",
        ),
    ],
)
def test_bad_plans_say_what_to_fix(fields, message):
    with pytest.raises(ValidationError, match=message):
        StackPlan(**fields)


@pytest.mark.parametrize(
    ("m", "n", "expected_mm"),
    [
        (1.0, 16, 2.253),  # Zerene's calculator example: 1×, f/16 (effective f/32)
        (2.0, 2.0, 0.020),  # Zerene's table 2-A, row 2.0×
        (2.0, 2.8, 0.039),
        (2.0, 4.0, 0.079),
        (2.0, 5.6, 0.16),
        (2.0, 8.0, 0.32),
        (2.0, 11.0, 0.60),
        (2.0, 16.0, 1.3),
        (2.0, 22.0, 2.4),
        (3.5, 2.0, 0.014),
    ],
)
def test_depth_of_field_matches_zerenes_published_values(m, n, expected_mm):
    dof_mm = depth_of_field_um(m, n) / 1000
    # The table rounds to two significant figures.
    assert dof_mm == pytest.approx(expected_mm, rel=0.04)


def test_recommended_step_is_the_overlap_fraction_of_the_dof():
    assert recommended_step_um(2.0, 4.0) == pytest.approx(0.7 * depth_of_field_um(2.0, 4.0))
    assert recommended_step_um(2.0, 4.0, overlap=0.5) == pytest.approx(39.6)
    with pytest.raises(ValueError):
        recommended_step_um(2.0, 4.0, overlap=0)


def test_positions_outside_the_soft_limits_are_refused(tmp_path):
    with pytest.raises(
        PlanError, match=r"end_mm 60 mm is outside the rail's soft limits \(0.5–49.5 mm\)"
    ):
        check_plan(
            StackPlan(start_mm=10, end_mm=60, count=5),
            soft_limits=LIMITS,
            frame_size=(640, 480),
            data_dir=tmp_path,
        )


def test_disk_preflight_refuses_a_stack_that_cannot_fit(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(
        plan_module.shutil, "disk_usage", lambda _: usage(10**10, 0, 300 * 1024 * 1024)
    )
    small = StackPlan(start_mm=10, end_mm=12, count=10)
    check_plan(small, soft_limits=LIMITS, frame_size=(640, 480), data_dir=tmp_path)  # fits
    big = StackPlan(start_mm=10, end_mm=12, count=200)
    with pytest.raises(
        PlanError,
        match=r"not enough disk space: this stack needs about 2.99 GB and 314.6 MB is free",
    ):
        check_plan(big, soft_limits=LIMITS, frame_size=(4056, 3040), data_dir=tmp_path)


def test_a_lens_sweep_needs_a_focus_motor(tmp_path):
    sweep = StackPlan(lens={"start_dioptres": 2, "end_dioptres": 6, "count": 5})
    assert sweep.positions() == pytest.approx([2, 3, 4, 5, 6])
    with pytest.raises(PlanError, match="no focus motor"):
        check_plan(sweep, soft_limits=LIMITS, frame_size=(640, 480), data_dir=tmp_path)
    check_plan(sweep, soft_limits=LIMITS, frame_size=(640, 480), data_dir=tmp_path, has_lens=True)
