"""When automatic exposure has settled after it was switched (back) on, judged frame by frame.

What the frames after ``set_controls({"AeEnable": True, ...})`` show on a Raspberry Pi:

* **Old frames first.**  picamera2 attaches new controls to the next request it hands
  back to the camera (``request.py`` ``CompletedRequest.release``): the frame it holds
  for the next capture and the requests already queued, up to ``buffer_count`` in all,
  still carry the old manual exposure.
* **Then the AGC's restart.**  It decides on one frame's statistics, and the sensor
  applies what it wrote two to three frames later (libcamera
  ``camera_sensor_properties.cpp``: exposure and gain delay 2, frame length up to 3).
* **A rate-limited AGC.**  The Pi's IPA runs its algorithms at most every 30 ms
  (``ipa_base.cpp`` ``prepareIsp``, 90 % of ``controllerMinFrameDuration`` = 1/30 s):
  above 30 fps several frames in a row repeat one decision, also while it still moves.
* **AeState.**  libcamera ≥ 0.5 reports ``AeState`` (``control_ids_core.yaml``: Idle = AE
  off, Searching, Converged; ``AeLocked`` was removed).  The Pi's AGC says Converged once
  exposure and gain stayed within 10 % for 5 runs (``agc_channel.cpp``
  ``updateLockStatus``), and that count carries over from a manual period, so the first
  frames after AE comes back can say Converged with the old values.

So a frame counts only once it can show the AGC's own choice (after the old requests and
the restart), and AE has settled when exposure and gain held within 1 % over two AGC runs
— every frame of them Converged where the camera reports ``AeState``.  Without
``AeState`` the old requests cannot be recognised, so the first ``buffer_count`` frames
are skipped as if they were old.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

AE_STATE_IDLE = 0  # control_ids_core.yaml AeStateIdle: exposure and gain both manual
AE_STATE_CONVERGED = 2  # AeStateConverged
AE_STATE_NAMES = {0: "Idle", 1: "Searching", 2: "Converged"}

SENSOR_DELAY_FRAMES = 3
AGC_INTERVAL_US = 30_000
STABLE = 0.01  # exposure and gain within 1 %
CONVERGE_RUNS = 40  # AGC runs allowed for converging (speed 0.2 per run: ~25 from far off)


def agc_interval_frames(metadata: Mapping[str, Any]) -> int:
    """Frames per AGC run at this frame rate (1 up to 30 fps)."""
    duration = metadata.get("FrameDuration")
    if not duration or duration <= 0:
        return 1
    return max(1, math.ceil(AGC_INTERVAL_US / duration))


class AeSettle:
    """Feed it the metadata of every frame after AE was switched on; :meth:`settled` says
    when exposure and gain can be locked.

    :param queued_requests: requests that may carry controls from before (``buffer_count``).
    """

    def __init__(self, queued_requests: int) -> None:
        self._queued = queued_requests
        self.frames = 0  # frames seen
        self._ae_frames = 0  # frames since AeState first showed AE on
        self._candidates: list[Mapping[str, Any]] = []
        self._every = 1

    @property
    def frame_limit(self) -> int:
        """Frames after which :meth:`settled` will not become true in reasonable time."""
        restart = self._every + SENSOR_DELAY_FRAMES
        return self._queued + restart + CONVERGE_RUNS * self._every

    @property
    def exhausted(self) -> bool:
        return self.frames >= self.frame_limit

    def settled(self, metadata: Mapping[str, Any]) -> bool:
        self.frames += 1
        self._every = agc_interval_frames(metadata)
        restart = self._every + SENSOR_DELAY_FRAMES
        state = metadata.get("AeState")
        if state is None:
            own_choice = self.frames > self._queued + restart
        elif state == AE_STATE_IDLE:  # a request from before AE came back on
            self._ae_frames = 0
            own_choice = False
        else:
            self._ae_frames += 1
            own_choice = self._ae_frames > restart
        if not own_choice or (state is not None and state != AE_STATE_CONVERGED):
            self._candidates.clear()
            return False
        self._candidates.append(metadata)
        needed = 2 * self._every + 1
        window = self._candidates[-needed:]
        return len(window) == needed and all(_close(frame, metadata) for frame in window)


def describe(metadata: Mapping[str, Any]) -> str:
    """The exposure part of a frame's metadata, for messages."""
    parts = [
        f"ExposureTime {metadata.get('ExposureTime')} µs",
        f"AnalogueGain {metadata.get('AnalogueGain')}",
    ]
    if "AeState" in metadata:
        state = metadata["AeState"]
        parts.append(f"AeState {AE_STATE_NAMES.get(state, state)}")
    return ", ".join(parts)


def _close(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    for key in ("ExposureTime", "AnalogueGain"):
        x, y = a.get(key), b.get(key)
        if x is None or y is None or abs(x - y) > STABLE * max(abs(x), abs(y), 1e-9):
            return False
    return True
