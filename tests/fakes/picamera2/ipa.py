"""What libcamera's Raspberry Pi pipeline does with a request's controls, frame by frame.

Not a picamera2 module: the part of the fake that stands for libcamera under picamera2.
Every rule names the libcamera (``src/...``) or picamera2 source it models; where the
fake simplifies, it says so.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

# src/libcamera/sensor/camera_sensor_properties.cpp, sensorDelays of imx477 / imx708:
# exposure and gain written to the sensor are used two frames later.  What the AGC decides
# from a frame's statistics is written at the next frame start (pipeline_base.cpp
# setDelayedControls, then DelayedControls::applyControls), one frame more.
SENSOR_DELAY = 2
DECISION_DELAY = SENSOR_DELAY + 1
# src/ipa/rpi/controller/rpi/agc_channel.cpp: the default AGC "speed" (filterExposure) and
# updateLockStatus(): within 10 % (exposure also + 200 µs) of the last frame counts up to
# maxLockCount = 5, beyond 1.5 × that resets the count.
AGC_SPEED = 0.2
LOCK_ERROR = 0.10
LOCK_RESET = 1.5
LOCK_FRAMES = 5
# src/libcamera/pipeline/rpi/common/pipeline_base.cpp defaultControllerMinimumFrameDurationUs;
# src/ipa/rpi/common/ipa_base.cpp prepareIsp() runs the algorithms only when at least 90 %
# of it has passed since their last run (otherwise the frame repeats the last results).
CONTROLLER_MIN_FRAME_DURATION_US = 1_000_000 / 30
# src/libcamera/control_ids_core.yaml, AeState (libcamera ≥ 0.5; AeLocked was removed).
AE_STATE_IDLE, AE_STATE_SEARCHING, AE_STATE_CONVERGED = 0, 1, 2

# src/ipa/rpi/controller/rpi/awb.cpp AwbConfig::read defaults (the imx477 and imx708
# tuning files, vc4 and pisp, set none of them): the filter's speed per run, how many runs
# between two estimates of the asynchronous thread, and the startup runs that take each
# estimate at once (speed 1.0).
AWB_SPEED = 0.05
AWB_FRAME_PERIOD = 10
AWB_STARTUP_FRAMES = 10
# awb.cpp initialise: before its first estimate the filter holds the sensor's 4000 K gains.
AWB_INITIAL_GAINS = (1.6, 2.1)

# What the AGC/AWB settle on for the fake's scene.
AUTO_EXPOSURE_US = 12_000
AUTO_GAIN = 2.0
AUTO_COLOUR_GAINS = (1.9, 1.5)
LENS_POSITION = 3.5


@dataclass(frozen=True)
class Exposure:
    time_us: float
    gain: float

    @property
    def total(self) -> float:
        return self.time_us * self.gain


class RpiPipeline:
    """One camera's IPA state: AE/AWB modes, the AGC filter and lock count, the sensor queue.

    :param scene: the exposure the AGC aims at (what the light makes "right").
    :param frame_duration_us: the sensor's frame time (FrameDuration in the metadata).
    :param exposure_offset_us: how far the sensor misses a fixed exposure time.
    :param reports_ae_state: ``False`` for a libcamera before 0.5 or a camera without AGC.
    """

    def __init__(
        self,
        scene: Exposure,
        frame_duration_us: int,
        exposure_offset_us: int,
        reports_ae_state: bool,
    ) -> None:
        self.scene = scene
        self.frame_duration_us = frame_duration_us
        self.exposure_offset_us = exposure_offset_us
        self.reports_ae_state = reports_ae_state
        self.auto_exposure = True  # agc_channel.cpp: fixedExposureTime_ == 0
        self.auto_gain = True  # fixedGain_ == 0
        self.fixed = Exposure(0, 0)
        self.awb = Awb()
        self.lens_position = LENS_POSITION
        self.filtered = scene
        self.sensor: deque[Exposure] = deque()
        self.lock_count = 0
        self.last_device: Exposure | None = None
        self.target_total = scene.total
        self.last_target_total = scene.total
        self.since_agc_run_us = math.inf
        self.ae_state = AE_STATE_SEARCHING

    def start(self, controls: dict[str, Any]) -> None:
        """``camera.start(controls)`` (picamera2.py start_): the controls apply before frame 1,
        and the AGC's startup frames adopt their target at once (filterExposure: speed 1.0
        while frameCount_ <= startupFrames), so the sensor starts on the target."""
        self.awb = Awb()
        self.apply(controls)
        self.filtered = self.target()
        self.sensor = deque([self._written()] * DECISION_DELAY)

    def apply(self, controls: dict[str, Any]) -> None:
        """The controls one request carries, as they reach the IPA."""
        exposure_mode = gain_mode = None
        if "ExposureTime" in controls:
            # picamera2 request.py CompletedRequest.release: a non-zero ExposureTime also sets
            # ExposureTimeMode manual, zero sets it to auto (and the zero is not sent).
            value = controls["ExposureTime"]
            exposure_mode = "manual" if value else "auto"
            if value:
                self.fixed = Exposure(value, self.fixed.gain)
        if "AnalogueGain" in controls:
            value = controls["AnalogueGain"]  # the same for AnalogueGainMode
            gain_mode = "manual" if value else "auto"
            if value:
                self.fixed = Exposure(self.fixed.time_us, value)
        if "AeEnable" in controls:
            # src/libcamera/camera.cpp Camera::patchControlList: AeEnable becomes both modes,
            # unless the same request sets a mode itself (that one wins).
            mode = "auto" if controls["AeEnable"] else "manual"
            exposure_mode = exposure_mode or mode
            gain_mode = gain_mode or mode
        # ipa_base.cpp applyControls → agc_channel.cpp disableAutoExposure / disableAutoGain:
        # switching to manual without a value freezes the current one.
        if exposure_mode == "manual" and self.auto_exposure and not controls.get("ExposureTime"):
            self.fixed = Exposure(self.filtered.time_us, self.fixed.gain)
        if gain_mode == "manual" and self.auto_gain and not controls.get("AnalogueGain"):
            self.fixed = Exposure(self.fixed.time_us, self.filtered.gain)
        if exposure_mode:
            self.auto_exposure = exposure_mode == "auto"
        if gain_mode:
            self.auto_gain = gain_mode == "auto"
        # ipa_base.cpp applyControls: AwbEnable first, then ColourGains.
        if "AwbEnable" in controls:
            if controls["AwbEnable"]:
                self.awb.enable_auto()
            else:
                self.awb.disable_auto()
        if "ColourGains" in controls:
            self.awb.set_manual_gains(*controls["ColourGains"])
        if "LensPosition" in controls:
            self.lens_position = controls["LensPosition"]

    def target(self) -> Exposure:
        """agc_channel.cpp computeTargetExposure: fixed parts as set, the rest from the scene."""
        return Exposure(
            self.scene.time_us if self.auto_exposure else self.fixed.time_us,
            self.scene.gain if self.auto_gain else self.fixed.gain,
        )

    def frame(self) -> dict[str, Any]:
        """The next frame's metadata, then the AGC's decision for a later frame."""
        device = self.sensor.popleft()  # what the AGC decided DECISION_DELAY frames ago
        self.since_agc_run_us += self.frame_duration_us
        runs = self.since_agc_run_us >= 0.9 * CONTROLLER_MIN_FRAME_DURATION_US
        if runs:  # ipa_base.cpp prepareIsp: otherwise the last results are merged in
            self.since_agc_run_us = 0
            self._prepare(device)
            self.awb.prepare()
            self._process()
            self.awb.process()
        self.sensor.append(self._written())
        metadata: dict[str, Any] = {
            "ExposureTime": round(device.time_us),
            "AnalogueGain": device.gain,
            "ColourGains": self.awb.reported,
            "LensPosition": self.lens_position,
            "FrameDuration": self.frame_duration_us,
        }
        if self.reports_ae_state:
            metadata["AeState"] = self.ae_state
        return metadata

    def _prepare(self, device: Exposure) -> None:
        """agc_channel.cpp updateLockStatus, and ipa_base.cpp reportMetadata's AeState: Idle
        when both modes are manual, else Converged once the lock count is full.  The count
        keeps running while the exposure is manual, so the first frames after AE comes back
        can say Converged with the old values."""
        last = self.last_device or device
        error_time = last.time_us * LOCK_ERROR + 200
        error_gain = last.gain * LOCK_ERROR
        error_target = self.last_target_total * LOCK_ERROR
        deltas = (
            (abs(device.time_us - last.time_us), error_time),
            (abs(device.gain - last.gain), error_gain),
            (abs(self.target_total - self.last_target_total), error_target),
        )
        if all(delta < error for delta, error in deltas):
            self.lock_count = min(self.lock_count + 1, LOCK_FRAMES)
        elif any(delta > LOCK_RESET * error for delta, error in deltas):
            self.lock_count = 0
        self.last_device = device
        self.last_target_total = self.target_total
        if not self.auto_exposure and not self.auto_gain:
            self.ae_state = AE_STATE_IDLE
        elif self.lock_count == LOCK_FRAMES:
            self.ae_state = AE_STATE_CONVERGED
        else:
            self.ae_state = AE_STATE_SEARCHING

    def _process(self) -> None:
        """agc_channel.cpp filterExposure / divideUpExposure: fixed values are used as they
        are, automatic ones move ``speed`` of the way per run (its square root when within
        20 %).  The real filter works on the total exposure and stops inside a small stable
        region; the fake moves each part and snaps within 1 %, so settled values are exact."""
        target = self.target()
        self.target_total = target.total
        self.filtered = Exposure(
            _step(self.filtered.time_us, target.time_us) if self.auto_exposure else target.time_us,
            _step(self.filtered.gain, target.gain) if self.auto_gain else target.gain,
        )

    def _written(self) -> Exposure:
        """What goes to the sensor: a fixed exposure time the sensor misses by the offset."""
        offset = 0 if self.auto_exposure else self.exposure_offset_us
        return Exposure(self.filtered.time_us + offset, self.filtered.gain)


def _step(current: float, target: float) -> float:
    gap = abs(target - current)
    if gap <= 0.01 * abs(target):
        return target
    speed = math.sqrt(AGC_SPEED) if gap < 0.2 * abs(target) else AGC_SPEED
    return current + speed * (target - current)


class Awb:
    """src/ipa/rpi/controller/rpi/awb.cpp, as far as the colour gains go.

    An asynchronous thread estimates the gains from one frame's statistics every
    ``frame_period`` runs (every run during the startup frames); ``prepare`` moves the
    reported gains (``prevSyncResults_``) ``speed`` of the way towards the latest estimate
    each run — the whole way during the startup frames.  Startup counts from the camera's
    start (``initialise``), not from ``enableAuto``: AWB switched back on later converges
    at ``speed``.  The fake's estimate is :attr:`light` (the scene's colour); its thread
    finishes before the next run (the real one takes a few milliseconds).
    """

    def __init__(self) -> None:
        self.light: tuple[float, float] = AUTO_COLOUR_GAINS  # what an estimate finds
        self.manual: tuple[float, float] | None = None  # manualR_, manualB_ (None: auto)
        self.sync = AWB_INITIAL_GAINS  # syncResults_: the latest estimate (or manual gains)
        self.prev = AWB_INITIAL_GAINS  # prevSyncResults_: filtered, what frames report
        self.frame_count = 0
        self.frame_phase = 0
        self.estimate: tuple[float, float] | None = None  # a finished async result

    @property
    def reported(self) -> tuple[float, float]:
        """ipa_base.cpp reportMetadata: ColourGains from awb.status (prevSyncResults_)."""
        return self.prev

    def enable_auto(self) -> None:
        """awb.cpp Awb::enableAuto (ipa_base.cpp applyControls, AwbEnable true)."""
        self.manual = None

    def disable_auto(self) -> None:
        """awb.cpp Awb::disableAuto: freeze the most recent values as manual gains."""
        self.manual = self.sync = self.prev

    def set_manual_gains(self, red: float, blue: float) -> None:
        """awb.cpp Awb::setManualGains: zero in either switches back to auto; otherwise
        adopted at once (syncResults_ and prevSyncResults_)."""
        if red and blue:
            self.manual = self.sync = self.prev = (red, blue)
        else:
            self.manual = None

    def prepare(self) -> None:
        """awb.cpp Awb::prepare: fetchAsyncResults, then the IIR filter."""
        if self.frame_count < AWB_STARTUP_FRAMES:
            self.frame_count += 1
        speed = 1.0 if self.frame_count < AWB_STARTUP_FRAMES else AWB_SPEED
        if self.estimate is not None:  # fetchAsyncResults: kept only if still in auto
            if self.manual is None:
                self.sync = self.estimate
            self.estimate = None
        self.prev = (
            speed * self.sync[0] + (1 - speed) * self.prev[0],
            speed * self.sync[1] + (1 - speed) * self.prev[1],
        )

    def process(self) -> None:
        """awb.cpp Awb::process: restartAsync every frame_period runs (or in startup)."""
        if self.frame_phase < AWB_FRAME_PERIOD:
            self.frame_phase += 1
        startup = self.frame_count < AWB_STARTUP_FRAMES
        if self.manual is None and (self.frame_phase >= AWB_FRAME_PERIOD or startup):
            self.frame_phase = 0  # restartAsync
            self.estimate = self.light
