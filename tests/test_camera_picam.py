"""The picamera2 camera against a fake ``picamera2`` modelled on the real library
(tests/fakes/picamera2)."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest
from camera_support import fake_picamera2
from gpiozero.pins.mock import MockFactory, MockPWMPin
from rig_support import running_rig

from rig.camera import CameraError, ExposureSettings
from rig.camera.picam import PiCamera
from rig.config import CameraConfig
from rig.light import Light
from rig.service import HardwareUnavailable


@pytest.fixture
def picamera2(monkeypatch):
    yield from fake_picamera2(monkeypatch)


@pytest.fixture
def pi4(picamera2):
    """A VC4 Pi (Zero 2 W, 3, 4): what picamera2 finds in /dev/video* there."""
    picamera2.Picamera2.platform = picamera2.Platform.VC4


@pytest.fixture
def pi5(picamera2):
    """A Pi 5 (PiSP: no hardware video encoders)."""
    picamera2.Picamera2.platform = picamera2.Platform.PISP


def small(**overrides) -> CameraConfig:
    settings = {"resolution": (64, 48), "preview_size": (32, 24), "capture_timeout_s": 0.2}
    return CameraConfig(**{**settings, **overrides})


def started(config: CameraConfig) -> tuple[PiCamera, object]:
    camera = PiCamera(config)
    camera.start()
    from picamera2 import Picamera2

    return camera, Picamera2.instances[-1]


def closed_cleanly(camera: PiCamera, cam) -> bool:
    """close() raised nothing, and the fake's stop() was not left waiting for ever."""
    camera.close()
    return (
        cam.closed and not cam.deadlocked and cam.events[-3:] == ["stop_encoder", "stop", "close"]
    )


def test_one_configuration_for_the_whole_session(picamera2, pi4):
    camera, cam = started(small(buffer_count=3))
    for _ in range(3):
        camera.capture()
    camera.set_exposure(15_000, 1.0, (2.0, 1.5))
    camera.capture()
    camera.start()  # idempotent: no second configuration

    assert len(cam.configure_calls) == 1
    assert cam.events[:4] == ["create_still_configuration", "configure", "start_encoder", "start"]
    config = cam.configure_calls[0]
    assert config["main"] == {"format": "BGR888", "size": (64, 48)}
    assert config["lores"] == {"format": "YUV420", "size": (32, 24)}  # VC4 needs YUV
    assert config["buffer_count"] == 3
    encoder, output, name = cam.encoders[0]
    assert type(encoder).__name__ == "MJPEGEncoder" and name == "lores"
    assert isinstance(output.fileoutput, io.BufferedIOBase)
    jpeg = camera.preview_jpeg()
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")
    camera.close()
    assert cam.events[-3:] == ["stop_encoder", "stop", "close"]
    camera.close()  # idempotent


def test_a_pi5_gets_the_software_encoder(picamera2, pi5):
    camera, cam = started(small())
    assert type(cam.encoders[0][0]).__name__ == "JpegEncoder"
    assert cam.configure_calls[0]["lores"]["format"] == "YUV420"
    assert camera.status()["preview_encoder"] == "JpegEncoder"
    camera.close()

    # picamera2's MJPEGEncoder is libav's software encoder on a Pi 5.
    forced, cam = started(small(preview_encoder="hardware"))
    assert type(cam.encoders[0][0]).__name__ == "LibavMjpegEncoder"
    forced.close()


def test_software_preview_on_a_vc4_pi_uses_a_yuv_lores_stream(picamera2, pi4):
    """Defect 6: check_camera_config refuses a non-YUV lores stream on VC4."""
    camera, cam = started(small(preview_encoder="software"))
    assert cam.configure_calls[0]["lores"]["format"] == "YUV420"
    encoder, _output, name = cam.encoders[0]
    assert type(encoder).__name__ == "JpegEncoder" and name == "lores"
    camera.capture()
    jpeg = camera.preview_jpeg()
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8")
    camera.close()


def test_capture_flushes_releases_and_keeps_rgb_order(picamera2, pi4):
    camera, cam = started(small())
    frame = camera.capture()
    assert all(call["flush"] is True for call in cam.capture_calls)
    assert all(call["wait"] == 0.2 for call in cam.capture_calls)
    assert cam.released == len(cam.capture_calls)
    assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
    red, green, blue = frame.image[10, 10]
    assert (red, green, blue) == (picamera2.RED, picamera2.GREEN, picamera2.BLUE)
    assert frame.exposure_us == 12_000 and frame.analogue_gain == 2.0
    assert frame.colour_gains == (1.9, 1.5) and frame.lens_position == 3.5
    assert frame.sensor_timestamp_ns > 0
    camera.close()


def test_exposure_fixed_from_the_config_goes_into_the_configuration(picamera2, pi4):
    config = small(
        exposure_us=20_000, analogue_gain=1.5, colour_gains=(2.0, 1.6), lens_position=2.0
    )
    camera, cam = started(config)
    controls = cam.configure_calls[0]["controls"]
    assert controls["ExposureTime"] == 20_000
    assert controls["AnalogueGain"] == 1.5
    assert controls["ColourGains"] == (2.0, 1.6)
    assert controls["AeEnable"] is False and controls["AwbEnable"] is False
    assert controls["LensPosition"] == 2.0 and controls["AfMode"] == 0
    assert camera.exposure == ExposureSettings(20_000, 1.5, (2.0, 1.6))
    assert camera.capture().exposure_us == 20_000
    assert cam.control_history == []  # nothing needed changing at run time
    camera.close()


def test_lock_reads_the_settled_values_then_fixes_them(picamera2, pi4):
    camera, cam = started(small())
    settings = camera.lock_exposure()
    assert settings == ExposureSettings(12_000, 2.0, (1.9, 1.5))
    fixed = cam.control_history[-1]
    assert fixed["ExposureTime"] == 12_000 and fixed["AnalogueGain"] == 2.0
    assert fixed["ColourGains"] == (1.9, 1.5)
    assert fixed["AeEnable"] is False and fixed["AwbEnable"] is False
    camera.unlock_exposure()
    assert cam.control_history[-1] == {"AeEnable": True, "AwbEnable": True}
    assert camera.exposure is None
    camera.close()


def test_frames_from_before_new_controls_apply_are_skipped(picamera2, pi4):
    camera, cam = started(small())
    camera.set_exposure(30_000, 1.0, (2.0, 1.5))
    frame = camera.capture()  # the fake applies controls two frames late
    assert frame.exposure_us == 30_000
    assert len(cam.capture_calls) == 2
    assert cam.released == 2  # the skipped request went back too
    assert camera.status()["skipped_frames"] == 1
    camera.close()


def test_a_frame_that_never_matches_the_request_is_an_error(picamera2, pi4):
    picamera2.Picamera2.exposure_offset_us = 5_000  # the sensor cannot do what we ask
    camera, cam = started(small(settle_frames=4))
    camera.set_exposure(20_000, 1.0, (2.0, 1.5))
    with pytest.raises(CameraError, match=r"ExposureTime 25000 µs, not the requested 20000 µs"):
        camera.capture()
    assert cam.released == len(cam.capture_calls) == 4
    camera.close()


def test_a_timeout_is_a_clear_camera_error(picamera2, pi4):
    camera, cam = started(small())
    picamera2.Picamera2.stall = True
    with pytest.raises(CameraError, match=r"no frame from the camera within 0\.2 s"):
        camera.capture()
    assert "cancel_all_and_flush" in cam.events
    with pytest.raises(CameraError, match="no frame metadata"):
        camera.lock_exposure()
    assert closed_cleanly(camera, cam)


# -- defect 3: a timed-out metadata wait must not leave a job that blocks stop() ----------


def test_a_metadata_timeout_leaves_no_stuck_job_and_shutdown_is_clean(picamera2, pi4):
    camera, cam = started(small())
    picamera2.Picamera2.stall = True
    with pytest.raises(CameraError, match=r"no frame metadata within 0\.2 s"):
        camera.lock_exposure()
    assert "cancel_all_and_flush" in cam.events
    assert closed_cleanly(camera, cam)


def test_a_lens_position_read_that_times_out_does_not_block_shutdown(picamera2, pi4):
    picamera2.Picamera2.stall = True  # starts, but no frame ever arrives
    camera, cam = started(small())
    with pytest.raises(CameraError, match="no frame metadata"):
        _ = camera.lens_position
    assert closed_cleanly(camera, cam)


def test_the_rig_shuts_down_cleanly_after_a_camera_timeout(picamera2, pi4, tmp_path):
    """The service's close after a failed lock: no exception (systemd would log "Application
    shutdown failed"), and stop() was not left waiting."""
    with running_rig(tmp_path) as rig:
        assert rig.devices is not None
        rig.devices.camera.close()  # the simulated one: a Pi camera in its place
        camera, cam = started(small())
        rig.devices._camera = camera
        picamera2.Picamera2.stall = True
        with pytest.raises(HardwareUnavailable, match="no frame metadata"):
            rig.exposure("lock")
    assert cam.closed and not cam.deadlocked


def test_the_led_goes_off_when_a_capture_fails(picamera2, pi4):
    factory = MockFactory(pin_class=MockPWMPin)
    light = Light(18, level=0.8, pin_factory=factory)
    camera, cam = started(small())
    picamera2.Picamera2.stall = True
    with pytest.raises(CameraError), light.lit():
        assert factory.pin(18).state == pytest.approx(0.8)
        camera.capture()
    assert factory.pin(18).state == 0
    light.close()
    assert closed_cleanly(camera, cam)
    factory.close()


def test_lens_position_for_focus_bracketing(picamera2, pi4):
    camera, cam = started(small())
    assert camera.lens_position == 3.5  # read from the metadata until set
    camera.lens_position = 4.25
    assert cam.control_history[-1] == {"AfMode": 0, "LensPosition": 4.25}
    assert camera.lens_position == 4.25
    camera.close()

    picamera2.Picamera2.with_focus_motor = False
    fixed_focus, _cam = started(small())
    assert fixed_focus.lens_position is None
    with pytest.raises(CameraError, match="no focus motor"):
        fixed_focus.lens_position = 1.0
    fixed_focus.close()


def test_status_is_json_ready(picamera2, pi4):
    camera, _cam = started(small())
    camera.capture()
    status = camera.status()
    assert status["model"] == "imx477" and status["frames"] == 1 and status["exposure"] == "auto"
    json.dumps(status)
    camera.close()


def test_missing_picamera2_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 → ImportError
    with pytest.raises(CameraError, match="apt install python3-picamera2"):
        PiCamera(small()).start()


def test_a_camera_that_will_not_open_says_what_to_check(picamera2, pi4):
    picamera2.Picamera2.fail_open = IndexError("list index out of range")
    with pytest.raises(CameraError, match=r"could not open camera 0.*rpicam-hello"):
        PiCamera(small()).start()


def test_not_started_is_an_error():
    with pytest.raises(CameraError, match="not started"):
        PiCamera(small()).capture()
