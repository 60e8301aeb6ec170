"""The simulated camera sees where the carriage really is, lit by the LED pin."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rig.config import Config
from rig.light import Light
from rig.rail import FocusRail
from rig.sim.hardware.bench import SimBench
from rig.sim.hardware.camera import AUTO, SimCamera


@pytest.fixture
def bench_rig(tmp_path):
    config = Config.model_validate(
        {
            "rail": {
                "steps_per_rev": 200,
                "microsteps": 1,
                "lead_mm": 2.0,
                "max_speed_mm_s": 100.0,
                "accel_mm_s2": 5000.0,
                "homing": {"fast_mm_s": 50.0},
            },
            "data": {"dir": str(tmp_path)},
        }
    )
    bench = SimBench(config)
    rail = FocusRail(config.rail, pin_factory=bench.pin_factory)
    light = Light.from_config(config.light, pin_factory=bench.pin_factory)
    camera = SimCamera(bench, config.sim)
    camera.start()
    yield bench, rail, light, camera
    camera.close()
    light.close()
    rail.close()
    bench.close()


def sharpness(image: np.ndarray) -> float:
    """Laplacian variance over the centre of the frame, where the subject is."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    return float(cv2.Laplacian(grey[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3], cv2.CV_64F).var())


@pytest.mark.slow
def test_frames_sharpen_then_blur_as_the_rail_passes_the_subject(bench_rig):
    _bench, rail, light, camera = bench_rig
    rail.set_position(5.0)  # where a new bench's carriage starts
    measured = {}
    with light.lit():
        for position in (6.0, 11.0, 16.0):
            rail.move_to(position)
            frame = camera.capture()
            assert frame.image.shape == (760, 1014, 3) and frame.image.dtype == np.uint8
            assert frame.metadata["SimFocusMm"] == pytest.approx(position)
            measured[position] = sharpness(frame.image)
    assert measured[11.0] > 2 * measured[6.0]
    assert measured[11.0] > 2 * measured[16.0]


def test_the_camera_follows_the_carriage_not_the_rails_belief(bench_rig):
    _bench, rail, light, camera = bench_rig
    rail.set_position(11.0)  # wrong: the carriage is at 5 mm
    with light.lit():
        believed = camera.capture()
        rail.move_by(6.0)  # really to 11 mm
        really = camera.capture()
    assert believed.metadata["SimFocusMm"] == pytest.approx(5.0)
    assert sharpness(really.image) > 2 * sharpness(believed.image)


def test_dim_with_the_led_off_and_brighter_with_more_exposure(bench_rig):
    bench, _rail, light, camera = bench_rig
    dim = camera.capture()
    assert bench.light_level == 0.0
    assert dim.metadata["SimLight"] == pytest.approx(0.12)  # the room's light (sim.ambient)
    assert 15 < dim.image.mean() < 60
    light.on(0.5)
    half = camera.capture().image.mean()
    light.on(1.0)
    full = camera.capture().image.mean()
    assert dim.image.mean() < half < full
    assert camera.lock_exposure() == AUTO
    camera.set_exposure(AUTO.exposure_us * 2, 1.0, (2.0, 1.5))
    light.on(0.5)
    doubled = camera.capture()
    assert doubled.exposure_us == 20_000
    assert doubled.image.mean() == pytest.approx(full, rel=0.15)  # 2× exposure at half light
    light.off()


def test_preview_is_a_small_jpeg_refreshed_at_most_ten_times_a_second(bench_rig):
    _bench, _rail, light, camera = bench_rig
    now = [1000.0]
    camera._clock = lambda: now[0]
    light.on()
    first = camera.preview_jpeg()
    assert first is not None and first.startswith(b"\xff\xd8")
    now[0] += 0.09
    assert camera.preview_jpeg() is first  # cached within 100 ms
    now[0] += 0.02
    assert camera.preview_jpeg() is not first  # and rendered again after
    image = cv2.imdecode(np.frombuffer(first, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    assert image.mean() > 20


def test_timestamps_and_status(bench_rig):
    _bench, _rail, _light, camera = bench_rig
    first, second = camera.capture(), camera.capture()
    assert second.sensor_timestamp_ns > first.sensor_timestamp_ns
    status = camera.status()
    assert status["kind"] == "simulated" and status["frames"] == 2
    camera.lens_position = 2.5
    assert camera.lens_position == 2.5
