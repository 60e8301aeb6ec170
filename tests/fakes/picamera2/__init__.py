"""A fake ``picamera2`` for tests, modelled on the real library's source.

Each behaviour names the picamera2 (or, for the camera pipeline under it, libcamera)
file and function it models, and the fake refuses what the real one refuses:

* controls apply only to requests queued after ``set_controls``: the frame picamera2 holds
  and the requests in flight carry the old ones, then the sensor's delay follows;
* ``AeEnable: True`` really restores automatic exposure (unless a fixed ``ExposureTime``
  goes in the same request), and the metadata follows the AGC back to its values;
* the metadata reports ``AeState`` (Idle / Searching / Converged), never ``AeLocked``;
* a job that timed out stays listed and ``stop()`` queues behind it until
  ``cancel_all_and_flush()``: the fake raises :class:`StopWouldHang` where the real one hangs;
* ``configure`` refuses a non-YUV ``lores`` stream on VC4 (check_camera_config), and the
  encoders refuse stream formats they cannot take.

Knobs for a test are class attributes of :class:`Picamera2` (see there).
"""

from .ipa import (
    AE_STATE_CONVERGED,
    AE_STATE_IDLE,
    AE_STATE_SEARCHING,
    AUTO_COLOUR_GAINS,
    AUTO_EXPOSURE_US,
    AUTO_GAIN,
    Exposure,
)
from .picamera2 import BLUE, GREEN, RED, CompletedRequest, Picamera2, StopWouldHang
from .platform import Platform

__all__ = [
    "AE_STATE_CONVERGED",
    "AE_STATE_IDLE",
    "AE_STATE_SEARCHING",
    "AUTO_COLOUR_GAINS",
    "AUTO_EXPOSURE_US",
    "AUTO_GAIN",
    "BLUE",
    "GREEN",
    "RED",
    "CompletedRequest",
    "Exposure",
    "Picamera2",
    "Platform",
    "StopWouldHang",
]
