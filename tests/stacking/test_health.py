"""The stack health check on the simulated bench: each fault is found, with the right
kind and frames (±1), at 1 MP and 12 MP; a clean stack of every scene kind raises no
warning.  The bench renders the fault (``rig.sim.render.faults``); the check only sees
the frames, as it would on a real rig."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from rig.cli.health_text import summary_lines
from rig.sim.render import SCENE_KINDS, render_stack
from rig.sim.render.faults import FaultError, Faults, parse
from stacker import StackOptions, Stream
from stacker.health import Health, PlanInfo, check, health_json

ONE_MP = (1152, 864)
TWELVE_MP = (4056, 3040)
COUNT = 15

# fault, kind expected, frames where it is (the finding must name one of them ±1)
FAULTS = [
    ("move@7", "motion", (7,)),
    ("part@7", "motion", (7,)),
    ("flicker@5", "light", (5,)),
    ("drift=0.3", "light", (0, COUNT - 1)),
    ("step@6", "focus_gap", (5, 6)),
    ("shake@9", "vibration", (9,)),
    ("short=0.3", "range", (COUNT - 1,)),
    ("swap@4", "order", (4, 5)),
]


@functools.cache
def stacked(kind: str, size: tuple[int, int], fault: str | None = None) -> Health:
    faults = parse([fault]) if fault else Faults()
    stack = render_stack(kind, COUNT, size=size, seed=1, faults=faults)
    stream = Stream(count=COUNT, options=StackOptions(workers=2))
    for image in stack.images:
        stream.add(image)
    result = stream.finish()
    assert result.health is not None
    return check(result.health)


def found(health: Health, kind: str, frames: tuple[int, ...]) -> bool:
    return any(
        f.kind == kind and any(abs(a - b) <= 1 for a in f.frames for b in frames)
        for f in health.findings
        if f.severity != "info"
    )


def problems(health: Health) -> list[str]:
    return [f"{f.kind} {f.frames}: {f.summary}" for f in health.findings if f.severity != "info"]


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "kind", "frames"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_found_at_1mp(fault: str, kind: str, frames: tuple[int, ...]) -> None:
    health = stacked("bench", ONE_MP, fault)
    assert found(health, kind, frames), problems(health)
    # ... and nothing else is blamed for it
    assert {f.kind for f in health.findings if f.severity != "info"} == {kind}, problems(health)


@pytest.mark.slow
@pytest.mark.parametrize("scene", SCENE_KINDS)
def test_a_clean_stack_of_every_scene_raises_no_warning(scene: str) -> None:
    health = stacked(scene, ONE_MP)
    assert health.status == "ok", problems(health)


# 12 MP: 15 frames rendered per fault, minutes each on two busy cores, ~20 min in all:
# deselected unless asked for (pytest --twelve-mp), so the suite stays under 10 minutes.
@pytest.mark.twelve_mp
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("fault", "kind", "frames"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_found_at_12mp(fault: str, kind: str, frames: tuple[int, ...]) -> None:
    health = stacked("bench", TWELVE_MP, fault)
    assert found(health, kind, frames), problems(health)


@pytest.mark.twelve_mp
@pytest.mark.timeout(1800)
def test_a_clean_12mp_stack_raises_no_warning() -> None:
    assert stacked("bench", TWELVE_MP).status == "ok"


@pytest.mark.slow
def test_findings_carry_region_value_and_advice_and_serialise() -> None:
    health = stacked("bench", ONE_MP, "step@6")
    gap = next(f for f in health.findings if f.kind == "focus_gap")
    assert gap.region is not None and 0 <= gap.region.x < 1 and gap.region.w > 0
    assert gap.value >= 1.0 and gap.unit == "stops" and gap.advice
    doc = health_json(health)
    assert doc["status"] == "warnings" and doc["problems"] == 1
    assert doc["findings"][0]["frames"] == [5, 6]
    assert len(doc["frames"]) == COUNT and {"sharpest", "light", "shift_px"} <= set(
        doc["frames"][0]
    )
    assert summary_lines(doc)[0] == "health: warnings (1 problem)"


@pytest.mark.slow
def test_with_the_plan_advice_speaks_in_its_units() -> None:
    stack = render_stack("bench", COUNT, size=(640, 480), seed=1, faults=parse(["shake@9"]))
    stream = Stream(count=COUNT)
    for image in stack.images:
        stream.add(image)
    result = stream.finish()
    assert result.health is not None
    health = check(result.health, PlanInfo(positions=list(stack.focus_mm), settle_s=0.2))
    shake = next(f for f in health.findings if f.kind == "vibration")
    assert "raise settle from 0.2 s" in shake.advice


def test_a_frame_the_stacker_cannot_use_is_reported() -> None:
    stack = render_stack("planes", 8, size=(320, 240), seed=2)
    images = stack.images
    rng = np.random.default_rng(0)
    images[5] = rng.integers(0, 255, images[5].shape, dtype=np.uint8)  # lens cap, garbage
    stream = Stream(count=8)
    for image in images:
        stream.add(image)
    result = stream.finish()
    assert result.health is not None
    health = check(result.health)
    skipped = [f for f in health.findings if f.kind == "skipped"]
    assert [f.frames for f in skipped] == [(5,)]
    # it is not also blamed on the light, and the report stays valid JSON (no NaN)
    assert [f.kind for f in health.findings if f.severity != "info"] == ["skipped"]
    json.dumps(health_json(health), allow_nan=False)


def test_fault_descriptions_are_checked() -> None:
    assert parse(["move@3=0.02", "drift=0.1"]) == Faults(move_at=3, move=0.02, drift=0.1)
    for bad in ("move", "drift@3", "wobble@2", "step@x"):
        with pytest.raises(FaultError):
            parse([bad])
    with pytest.raises(FaultError, match="swap@9"):
        Faults(swap_at=9).check(6)
