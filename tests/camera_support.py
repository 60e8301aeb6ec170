"""Shared by the camera tests: the fake ``picamera2`` (tests/fakes/picamera2) in place of
the real one, with every knob at its default."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

FAKES = Path(__file__).parent / "fakes"


def forget_picamera2() -> None:
    for name in [n for n in sys.modules if n == "picamera2" or n.startswith("picamera2.")]:
        del sys.modules[name]


def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """For a fixture: the fake package, importable as ``picamera2`` during one test."""
    monkeypatch.syspath_prepend(str(FAKES))
    forget_picamera2()
    import picamera2 as fake

    fake.Picamera2.instances = []
    fake.Picamera2.fail_open = None
    fake.Picamera2.stall = False
    fake.Picamera2.exposure_offset_us = 0
    fake.Picamera2.with_focus_motor = True
    fake.Picamera2.platform = fake.Platform.VC4
    fake.Picamera2.reports_ae_state = True
    fake.Picamera2.frame_duration_us = 100_000
    fake.Picamera2.cancel_next_wait = False
    fake.Picamera2.textured = False
    fake.Picamera2.real_time = False
    fake.Picamera2.scene = fake.Exposure(fake.AUTO_EXPOSURE_US, fake.AUTO_GAIN)
    yield fake
    forget_picamera2()
