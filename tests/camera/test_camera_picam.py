"""The picamera2 camera against a fake ``picamera2`` modelled on the real library
(tests/fakes/picamera2: stale frames after set_controls, AeState, stuck jobs, VC4's rules)."""

from __future__ import annotations

import io
import itertools
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


def same_exposure(got: ExposureSettings, want: ExposureSettings) -> bool:
    """Exposure and gain exactly; colour gains within 1 % (the Pi's AWB filter approaches
    its estimate and never quite reaches it)."""
    return (got.exposure_us, got.analogue_gain) == (want.exposure_us, want.analogue_gain) and (
        got.colour_gains == pytest.approx(want.colour_gains, rel=0.01)
    )


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
    assert closed_cleanly(camera, cam)


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
    assert same_exposure(settings, ExposureSettings(12_000, 2.0, (1.9, 1.5)))
    fixed = cam.control_history[-1]
    assert fixed["ExposureTime"] == 12_000 and fixed["AnalogueGain"] == 2.0
    assert fixed["ColourGains"] == settings.colour_gains
    assert fixed["AeEnable"] is False and fixed["AwbEnable"] is False
    camera.unlock_exposure()
    assert cam.control_history[-1] == {
        "AeEnable": True,
        "ExposureTime": 0,
        "AnalogueGain": 0.0,
        "AwbEnable": True,
        "ColourGains": (0.0, 0.0),
    }
    assert camera.exposure is None
    camera.close()


def test_frames_from_before_new_controls_apply_are_skipped(picamera2, pi4):
    camera, cam = started(small())
    camera.set_exposure(30_000, 1.0, (2.0, 1.5))
    frame = camera.capture()  # requests in flight and the sensor's delay: a few old frames
    assert frame.exposure_us == 30_000
    skipped = camera.status()["skipped_frames"]
    assert skipped >= 1 and len(cam.capture_calls) == skipped + 1
    assert cam.released == len(cam.capture_calls)  # the skipped requests went back too
    camera.close()


def test_a_frame_that_never_matches_the_request_is_an_error(picamera2, pi4):
    picamera2.Picamera2.exposure_offset_us = 5_000  # the sensor cannot do what we ask
    camera, cam = started(small(settle_frames=4))
    camera.set_exposure(20_000, 1.0, (2.0, 1.5))
    with pytest.raises(CameraError, match=r"ExposureTime 25000 µs, not the requested 20000 µs"):
        camera.capture()
    assert cam.released == len(cam.capture_calls) == 6  # buffer_count 2 + 3 sensor frames + 1
    camera.close()


def test_a_capture_after_new_controls_waits_out_every_request_queued_before(picamera2, pi4):
    camera, _ = started(small(settle_frames=2, buffer_count=6))
    camera.capture()
    camera.set_exposure(20_000, 1.0, (2.0, 1.5))
    frame = camera.capture()  # six requests with the old controls come first
    assert frame.exposure_us == 20_000
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


def test_a_wait_cancelled_by_another_threads_timeout_is_a_camera_error(picamera2, pi4):
    camera, cam = started(small())
    picamera2.Picamera2.cancel_next_wait = True  # a lens read's timeout flushed our capture
    with pytest.raises(CameraError, match="stopped answering"):
        camera.capture()
    picamera2.Picamera2.cancel_next_wait = True
    with pytest.raises(CameraError, match="stopped answering"):
        _ = camera.lens_position
    assert camera.capture().image.shape == (48, 64, 3)  # the camera works on afterwards
    assert closed_cleanly(camera, cam)


# -- defect 3: a timed-out metadata wait must not leave a job that blocks stop() ----------


def test_a_metadata_timeout_leaves_no_stuck_job_and_shutdown_is_clean(picamera2, pi4):
    camera, cam = started(small())
    picamera2.Picamera2.stall = True  # the frame held from before still comes, then nothing
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


# -- defect 4: re-locking must not lock the old fixed values again -------------------------


@pytest.mark.parametrize("ae_state", [True, False], ids=["AeState", "no-AeState"])
@pytest.mark.parametrize(
    ("fixed_us", "fixed_gain"),
    [(30_000, 1.0), (13_000, 2.0)],
    ids=["far-from-auto", "within-10%-of-auto"],
)
def test_relock_after_a_fixed_exposure_returns_the_automatic_values(
    picamera2, pi4, ae_state, fixed_us, fixed_gain
):
    """A stack ran with a fixed exposure, the next one locks again.  Within 10 % of the
    automatic values the Pi's AGC still says Converged while the old values play out."""
    picamera2.Picamera2.reports_ae_state = ae_state
    camera, cam = started(small())
    camera.set_exposure(fixed_us, fixed_gain, (2.0, 1.5))
    for _ in range(6):
        assert camera.capture().exposure_us == fixed_us  # the fixed exposure is in effect
    settings = camera.lock_exposure()
    # What AE settles on in the fake's scene, not the fixed values still in flight.
    assert same_exposure(settings, ExposureSettings(12_000, 2.0, picamera2.AUTO_COLOUR_GAINS))
    assert cam.control_history[-1]["ExposureTime"] == 12_000
    assert camera.capture().exposure_us == 12_000
    assert closed_cleanly(camera, cam)


def test_relock_straight_after_set_exposure_still_restores_auto(picamera2, pi4):
    """No frame between the two: picamera2 sends both sets of controls in one request,
    where a fixed ExposureTime would win over AeEnable and fixed ColourGains over AwbEnable."""
    camera, cam = started(small())
    camera.capture()
    cam.pipeline.scene = picamera2.Exposure(4_000, 1.0)  # and the light came on
    camera.set_exposure(30_000, 1.0, (2.0, 1.5))
    settings = camera.lock_exposure()
    assert same_exposure(settings, ExposureSettings(4_000, 1.0, picamera2.AUTO_COLOUR_GAINS))
    assert closed_cleanly(camera, cam)


# -- defect 5: AeState, and a frame test that cannot fire while AE still converges -----------


@pytest.mark.parametrize(
    ("ae_state", "frame_duration_us"),
    [(True, 100_000), (False, 100_000), (True, 8_333), (False, 8_333)],
    ids=["AeState-10fps", "no-AeState-10fps", "AeState-120fps", "no-AeState-120fps"],
)
def test_lock_after_the_light_comes_on_waits_for_ae_to_converge(
    picamera2, pi4, ae_state, frame_duration_us
):
    """The runner switches the LED on, then locks: AE starts from the dark scene's values.
    At 120 fps the AGC runs on every 4th frame only, so frames repeat while it moves."""
    picamera2.Picamera2.reports_ae_state = ae_state
    picamera2.Picamera2.frame_duration_us = frame_duration_us
    camera, cam = started(small())
    camera.capture()
    cam.pipeline.scene = picamera2.Exposure(4_000, 1.0)  # the light comes on
    settings = camera.lock_exposure()
    assert (settings.exposure_us, settings.analogue_gain) == (4_000, 1.0)
    assert closed_cleanly(camera, cam)


@pytest.mark.parametrize("frame_duration_us", [100_000, 8_333], ids=["10fps", "120fps"])
def test_lock_after_a_light_of_another_colour_comes_on_waits_for_awb(
    picamera2, pi4, frame_duration_us
):
    """The page's preview ran under room light, then the stack switches the LED on and
    locks: the Pi's AWB takes ~70 runs to follow (5 % of the way per run), and nothing in
    the metadata says when it is done.  Locking with AE alone fixed the old light's
    colour (test: within 1 % of the LED's gains, not 2-30 % off)."""
    picamera2.Picamera2.frame_duration_us = frame_duration_us
    camera, cam = started(small())
    for _ in range(30):
        camera.capture()  # well past AWB's startup frames: it now moves at its speed
    cam.pipeline.awb.light = (2.6, 1.2)  # a warmer LED
    cam.pipeline.scene = picamera2.Exposure(4_000, 1.0)  # and brighter
    settings = camera.lock_exposure()
    assert same_exposure(settings, ExposureSettings(4_000, 1.0, (2.6, 1.2)))
    assert closed_cleanly(camera, cam)


def test_a_white_balance_that_never_settles_is_locked_as_it_is_and_logged(
    picamera2, pi4, monkeypatch, caplog
):
    """AE settled but the light's colour keeps changing (a flickering lamp near the rig):
    the stack goes ahead with the colour of the moment, and the log says so."""
    camera, cam = started(small())
    for _ in range(30):
        camera.capture()
    lights = itertools.cycle([(2.6, 1.2), (1.6, 2.0)])
    awb = cam.pipeline.awb
    estimate = awb.process

    def flickering() -> None:  # each estimate finds the other colour
        estimate()
        if awb.estimate is not None:
            awb.estimate = next(lights)

    monkeypatch.setattr(awb, "process", flickering)
    with caplog.at_level("WARNING", logger="rig.camera.picam"):
        settings = camera.lock_exposure()
    assert (settings.exposure_us, settings.analogue_gain) == (12_000, 2.0)
    assert "white balance still moving" in caplog.text
    assert camera.exposure == settings
    assert closed_cleanly(camera, cam)


def test_the_frames_report_ae_state_not_ae_locked(picamera2, pi4):
    camera, _cam = started(small())
    metadata = camera.capture().metadata
    assert "AeState" in metadata and "AeLocked" not in metadata
    camera.close()


def test_a_lock_that_never_settles_is_an_error_not_a_guess(picamera2, pi4, monkeypatch):
    camera, cam = started(small())
    flicker = itertools.cycle([picamera2.Exposure(4_000, 1.0), picamera2.Exposure(20_000, 1.0)])
    monkeypatch.setattr(cam.pipeline, "target", lambda: next(flicker))
    with pytest.raises(CameraError, match=r"automatic exposure did not settle within \d+ frames"):
        camera.lock_exposure()
    assert camera.exposure is None  # nothing was fixed
    assert closed_cleanly(camera, cam)


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
    assert (
        status["model"] == "imx477"
        and status["frames"] == 1
        and status["exposure"]["mode"] == "auto"
    )
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
