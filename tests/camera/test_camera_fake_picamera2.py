"""The fake picamera2 refuses what the real one refuses (tests/fakes/picamera2 cites where).

If these pass against a looser fake, the camera tests prove nothing: each one pins a
behaviour of the real library that bit, or would bite, the rig on a Pi.
"""

from __future__ import annotations

import itertools
import sys

import pytest
from camera_support import fake_picamera2


@pytest.fixture
def picamera2(monkeypatch):
    yield from fake_picamera2(monkeypatch)


def running(picamera2, *, lores_format: str = "YUV420", buffer_count: int = 2, **controls):
    cam = picamera2.Picamera2()
    config = cam.create_still_configuration(
        main={"size": (64, 48)},
        lores={"size": (32, 24), "format": lores_format},
        buffer_count=buffer_count,
        controls=controls,
    )
    cam.configure(config)
    cam.start()
    return cam


def frames(cam, count: int) -> list[dict]:
    return [cam.capture_metadata(wait=1.0) for _ in range(count)]


# -- controls reach only requests queued later --------------------------------------------


def test_set_controls_leaves_the_held_and_queued_frames_as_they_were(picamera2):
    cam = running(picamera2)
    cam.set_controls({"ExposureTime": 30_000, "AnalogueGain": 1.0, "AeEnable": False})
    seen = frames(cam, 8)
    # buffer_count = 2: the frame picamera2 held back and the request in flight are old.
    assert [f["ExposureTime"] for f in seen[:2]] == [12_000, 12_000]
    assert all(f["AeState"] != picamera2.AE_STATE_IDLE for f in seen[:2])
    # The first request with the new controls turns AE off at once (AeState Idle), but
    # the sensor still shows the AGC's last values for a few frames.
    first_manual = next(i for i, f in enumerate(seen) if f["AeState"] == picamera2.AE_STATE_IDLE)
    assert first_manual == 2 and seen[first_manual]["ExposureTime"] == 12_000
    assert seen[-1]["ExposureTime"] == 30_000 and seen[-1]["AnalogueGain"] == 1.0


def test_flush_skips_the_held_frame_but_not_the_queued_controls(picamera2):
    cam = running(picamera2)
    held = cam._completed[0].metadata  # what capture_metadata would return at once
    cam.set_controls({"ExposureTime": 30_000, "AnalogueGain": 1.0})
    called_at = cam._clock_ns  # the fake's time.monotonic_ns()
    with cam.captured_request(wait=1.0, flush=True) as request:
        metadata = request.get_metadata()
    assert held["SensorTimestamp"] - 1000 * held["ExposureTime"] < called_at
    assert metadata["SensorTimestamp"] - 1000 * metadata["ExposureTime"] >= called_at
    assert metadata["ExposureTime"] == 12_000  # exposed after the call, queued before it


def test_unknown_controls_are_refused(picamera2):
    cam = running(picamera2)
    with pytest.raises(RuntimeError, match="Control AeLocked is not advertised by libcamera"):
        cam.set_controls({"AeLocked": True})


# -- AeEnable and AeState -----------------------------------------------------------------


def test_ae_enable_brings_automatic_exposure_back(picamera2):
    cam = running(picamera2, ExposureTime=30_000, AnalogueGain=1.0, AeEnable=False)
    assert frames(cam, 1)[0]["AeState"] == picamera2.AE_STATE_IDLE
    cam.set_controls({"AeEnable": True})
    seen = frames(cam, 30)
    assert all("AeLocked" not in f for f in seen)  # libcamera 0.5 removed it
    assert {f["AeState"] for f in seen} >= {picamera2.AE_STATE_SEARCHING}
    assert (seen[-1]["ExposureTime"], seen[-1]["AnalogueGain"]) == (12_000, 2.0)
    assert seen[-1]["AeState"] == picamera2.AE_STATE_CONVERGED


def test_a_fixed_exposure_time_in_the_same_request_wins_over_ae_enable(picamera2):
    cam = running(picamera2)
    cam.set_controls({"ExposureTime": 30_000, "AeEnable": False})
    cam.set_controls({"AeEnable": True})  # no request went out in between
    last = frames(cam, 12)[-1]
    # The fixed time stays; AeEnable only sets what the request left open: the gain.
    assert (last["ExposureTime"], last["AnalogueGain"]) == (30_000, 2.0)
    cam.set_controls({"ExposureTime": 0, "AeEnable": True})  # zero: automatic
    assert frames(cam, 30)[-1]["ExposureTime"] == 12_000


def test_awb_switched_back_on_follows_its_estimate_at_five_percent_per_run(picamera2):
    """awb.cpp: estimates every 10 runs; the reported gains move 5 % of the way per run
    once the 10 startup runs are over, so a new light is followed slowly."""
    cam = running(picamera2)
    start = frames(cam, 12)[-1]["ColourGains"]
    assert start == pytest.approx(picamera2.AUTO_COLOUR_GAINS)  # the startup took it at once
    cam.set_controls({"AwbEnable": False})
    frames(cam, 5)
    cam.pipeline.awb.light = (2.9, 1.5)  # a new light, while AWB is off: nothing moves
    assert frames(cam, 20)[-1]["ColourGains"] == pytest.approx(start)
    cam.set_controls({"AwbEnable": True})
    red = [f["ColourGains"][0] for f in frames(cam, 40)]
    steps = [b - a for a, b in itertools.pairwise(red) if b != a]
    assert steps, "AWB never followed the new light"
    assert steps[0] == pytest.approx(0.05 * (2.9 - 1.9), rel=0.01)  # 5 % of the gap
    assert 1.9 < red[-1] < 2.9 - 0.1  # 40 frames later still well short of it


def test_manual_colour_gains_apply_at_once_and_zero_means_auto(picamera2):
    cam = running(picamera2)
    frames(cam, 12)
    cam.set_controls({"ColourGains": (2.5, 1.1)})
    seen = frames(cam, 4)
    assert seen[-1]["ColourGains"] == pytest.approx((2.5, 1.1))  # setManualGains: at once
    cam.set_controls({"ColourGains": (0.0, 0.0)})
    assert frames(cam, 40)[-1]["ColourGains"][0] < 2.5  # back in auto: moving to 1.9


def test_the_agc_holds_its_values_between_runs_above_30_fps(picamera2):
    picamera2.Picamera2.frame_duration_us = 8_333  # 120 fps: the AGC runs every 4th frame
    cam = running(picamera2, ExposureTime=30_000, AnalogueGain=1.0)
    cam.set_controls({"ExposureTime": 0, "AnalogueGain": 0.0})
    exposures = [f["ExposureTime"] for f in frames(cam, 100)]
    changes = [i for i in range(1, len(exposures)) if exposures[i] != exposures[i - 1]]
    assert len(changes) > 3 and exposures[-1] == 12_000
    assert all((i - changes[0]) % 4 == 0 for i in changes)  # a new value every 4th frame


# -- timeouts, stuck jobs and stop() ------------------------------------------------------


def with_a_timed_out_job(picamera2):
    """Started, then the cable came loose before the first frame: one wait timed out."""
    picamera2.Picamera2.stall = True
    cam = running(picamera2)
    with pytest.raises(TimeoutError):
        cam.capture_metadata(wait=0.1)
    return cam


def test_a_timed_out_job_blocks_stop_until_cancel_all_and_flush(picamera2):
    cam = running(picamera2)
    picamera2.Picamera2.stall = True
    cam.capture_metadata(wait=0.1)  # the frame held back from before still comes
    with pytest.raises(TimeoutError):
        cam.capture_metadata(wait=0.1)
    with pytest.raises(picamera2.StopWouldHang):
        cam.stop()
    assert cam.deadlocked

    cam = with_a_timed_out_job(picamera2)
    cam.cancel_all_and_flush()
    cam.stop()
    cam.close()
    assert cam.closed and not cam.deadlocked


def test_close_alone_does_not_hang(picamera2):
    """close() ends the event loop first, so its own stop() runs directly."""
    cam = with_a_timed_out_job(picamera2)
    cam.close()
    assert cam.closed and not cam.deadlocked


def test_a_stale_job_takes_the_next_frame_when_frames_come_back(picamera2):
    cam = with_a_timed_out_job(picamera2)
    first_frame_starts = cam._clock_ns
    picamera2.Picamera2.stall = False
    metadata = cam.capture_metadata(wait=0.1)
    assert metadata["SensorTimestamp"] - 1000 * metadata["ExposureTime"] > first_frame_starts
    assert cam._job_list == []


def test_waiting_for_ever_is_refused(picamera2):
    picamera2.Picamera2.stall = True
    cam = running(picamera2)
    with pytest.raises(AssertionError, match="never wait for ever"):
        cam.capture_metadata()


# -- configuration and encoders -----------------------------------------------------------


def test_vc4_needs_a_yuv_lores_stream(picamera2):
    with pytest.raises(RuntimeError, match="lores stream must be YUV"):
        running(picamera2, lores_format="BGR888")
    picamera2.Picamera2.platform = picamera2.Platform.PISP
    assert running(picamera2, lores_format="BGR888").started


@pytest.mark.parametrize(
    ("lores", "message"),
    [
        ({"size": (128, 24)}, "may not exceed main stream"),
        ({"size": (31, 24)}, "width and height should be even"),
        ({"size": (32, 24), "format": "MJPG"}, "Bad format MJPG"),
    ],
)
def test_configure_checks_the_streams(picamera2, lores, message):
    cam = picamera2.Picamera2()
    config = cam.create_still_configuration(main={"size": (64, 48)}, lores=lores)
    with pytest.raises(RuntimeError, match=message):
        cam.configure(config)


def test_which_mjpeg_encoder_exists_depends_on_the_platform(picamera2):
    import picamera2.encoders as vc4_encoders

    assert vc4_encoders.MJPEGEncoder.__name__ == "MJPEGEncoder"  # V4L2 hardware
    del sys.modules["picamera2.encoders"]
    picamera2.Picamera2.platform = picamera2.Platform.PISP
    import picamera2.encoders as pisp_encoders

    assert pisp_encoders.MJPEGEncoder is pisp_encoders.LibavMjpegEncoder


def test_the_encoder_must_take_the_stream_format_and_the_stream_must_exist(picamera2):
    from picamera2.encoders import JpegEncoder

    picamera2.Picamera2.platform = picamera2.Platform.PISP
    cam = running(picamera2, lores_format="XRGB8888")
    JpegEncoder().start("YUV420")  # picamera2 ≥ 0.3.26
    with pytest.raises(RuntimeError, match="cannot encode a NV12 stream"):
        JpegEncoder().start("NV12")
    with pytest.raises(RuntimeError, match="Encode stream raw was not defined"):
        cam.start_encoder(JpegEncoder(), None, name="raw")
