"""When automatic white balance has settled after it was switched (back) on.

What the Raspberry Pi's AWB does (``src/ipa/rpi/controller/rpi/awb.cpp``, defaults the
imx477 and imx708 tuning files keep):

* An asynchronous thread estimates the gains from one frame's statistics every
  ``frame_period`` = 10 runs of the algorithms (each run at most every 30 ms: the same
  ``prepareIsp`` rate limit as the AGC, :func:`rig.camera.ae_settle.agc_interval_frames`).
* The gains the frames report (``prevSyncResults_``) move ``speed`` = 5 % of the way to
  the latest estimate each run; only the first 10 runs after the camera starts take an
  estimate at once.  Switched back on later (a new light for this stack) AWB needs ~70
  runs to come within 1 % of a 30 % change, and for up to 10 runs after ``enableAuto``
  the gains hold still, at the old values, until the first new estimate arrives.
* There is no convergence flag: libcamera's ``AwbLocked`` is not set by the Pi's IPA.

So AWB has settled when neither gain moved by more than 0.5 % over two estimate periods
(21 runs): over 20 runs the filter closes 64 % of any gap, so what is left is under 1 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rig.camera.ae_settle import agc_interval_frames

FRAME_PERIOD_RUNS = 10
WINDOW_RUNS = 2 * FRAME_PERIOD_RUNS + 1
STABLE = 0.005
# Runs allowed: from twice or half the gains to within 1 % at 5 % per run is ~90 runs.
CONVERGE_RUNS = 120


class AwbSettle:
    """Feed it the metadata of every frame after AWB was switched on; :meth:`settled`
    says when the colour gains can be locked.

    :param queued_requests: requests that may carry controls from before (``buffer_count``).
    """

    def __init__(self, queued_requests: int) -> None:
        self._queued = queued_requests
        self.frames = 0
        self._every = 1
        self._gains: list[tuple[float, float]] = []

    @property
    def exhausted(self) -> bool:
        """The gains have had time to converge and still move: the light is changing."""
        return self.frames >= self._queued + (WINDOW_RUNS + CONVERGE_RUNS) * self._every

    def settled(self, metadata: Mapping[str, Any]) -> bool:
        self.frames += 1
        self._every = agc_interval_frames(metadata)
        gains = _gains(metadata)
        if gains is None:  # no AWB (a mono sensor): nothing to wait for
            return True
        if self.frames <= self._queued:  # may still carry the old, manual gains
            return False
        self._gains.append(gains)
        needed = WINDOW_RUNS * self._every
        window = self._gains[-needed:]
        return len(window) == needed and all(_close(g, gains) for g in window)


def _gains(metadata: Mapping[str, Any]) -> tuple[float, float] | None:
    try:
        red, blue = (float(g) for g in metadata["ColourGains"])
    except (KeyError, TypeError, ValueError):
        return None
    return red, blue


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(abs(x - y) <= STABLE * max(abs(x), abs(y), 1e-9) for x, y in zip(a, b, strict=True))
