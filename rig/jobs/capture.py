"""The capture loop of one stack: move → settle → light → capture → hand over.

Everything slow or fallible is bounded: moves and captures run under the heartbeat's
deadlines, a capture that times out or returns a frame exposed before the move ended is
retried, the light is on only while exposing, and a stop request (cancel or shutdown)
takes effect after the frame in progress.  What moves between frames is the plan's
:class:`~rig.jobs.focus.FocusAxis`; how the capture ends is a
:class:`~rig.jobs.outcome.JobEnded` (stopped, or :class:`CaptureFailed`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rig.camera.base import Camera, CameraError, CameraFrame, ExposureSettings
from rig.devices import Devices
from rig.jobs.focus import FocusAxis
from rig.jobs.heartbeat import Heartbeat
from rig.jobs.outcome import CaptureFailed, JobEnded, Outcome
from rig.jobs.writer import FrameWriter
from rig.plan import StackPlan

log = logging.getLogger(__name__)

CAPTURE_ATTEMPTS = 3


class StopFlags:
    """Requests to stop the current job, from other threads (cancel, or the daemon's stop)."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.shutdown = threading.Event()

    @property
    def requested(self) -> bool:
        return self.cancel.is_set() or self.shutdown.is_set()

    def check(self, while_stacking: bool = False) -> None:
        """Raise :class:`JobEnded` if a stop was asked for (a shutdown wins)."""
        if self.shutdown.is_set():
            stopped = Outcome.STOPPED_STACKING if while_stacking else Outcome.STOPPED_CAPTURING
            raise JobEnded(stopped)
        if self.cancel.is_set():
            raise JobEnded(Outcome.CANCELLED)


@dataclass
class Capture:
    devices: Devices
    axis: FocusAxis
    plan: StackPlan
    positions: list[float]
    writer: FrameWriter
    heartbeat: Heartbeat
    stop: StopFlags
    on_frame: Callable[[int, float], None]  # (index, rail position mm) once taken

    @property
    def camera(self) -> Camera:
        return self.devices.camera

    def run(self, start_index: int) -> None:
        """Capture frames ``start_index``… of the plan.  Raises :class:`JobEnded` when
        stopped or a device fails; the light is off whatever happens."""
        light = self.devices.light
        if start_index >= len(self.positions):
            return  # a resumed job whose frames were all saved: only the stacking is left
        try:
            self.axis.prepare()
            self._fix_exposure(start_index)
            for index in range(start_index, len(self.positions)):
                self.stop.check()
                moved_at = self._go_to(self.positions[index])
                image, frame = self._expose(moved_at)
                entry = self.writer.entry(
                    index,
                    self.positions[index],
                    exposure_us=frame.exposure_us,
                    analogue_gain=frame.analogue_gain,
                    sensor_timestamp_ns=frame.sensor_timestamp_ns,
                    saved=time.time(),
                )
                self.writer.submit(entry, image)
                self.on_frame(index, self.devices.rail.position_mm)
        finally:
            light.off()

    def return_to_start(self) -> None:
        self.axis.return_to(self.positions[0])

    # -- steps -----------------------------------------------------------------------
    def _fix_exposure(self, start_index: int) -> None:
        spec = self.plan.exposure
        try:
            with self.heartbeat.expect(60, "setting the exposure"):
                if spec.mode == "fixed":
                    assert spec.exposure_us is not None and spec.analogue_gain is not None
                    gains = spec.colour_gains or _current_gains(self.camera)
                    self.camera.set_exposure(spec.exposure_us, spec.analogue_gain, gains)
                    return
                # Auto: let it settle on the subject, lit as it will be, then freeze.
                self._go_to(self.positions[start_index])
                with self.devices.light.lit(self.plan.led_level):
                    self.camera.unlock_exposure()
                    settled = self.camera.lock_exposure()
                log.info(
                    "exposure locked at %d µs, gain %.2f",
                    settled.exposure_us,
                    settled.analogue_gain,
                )
        except CameraError as exc:
            raise CaptureFailed(f"camera: could not set the exposure: {exc}") from exc

    def _go_to(self, position: float) -> int:
        """Move the focus axis and settle; the monotonic time (ns) when the optics came
        to rest."""
        self.axis.move_to(position)
        if self.plan.settle_s > 0:
            # Settle is part of the frame in progress: a stop request does not cut it short.
            time.sleep(self.plan.settle_s)
        return time.monotonic_ns()

    def _expose(self, moved_at_ns: int) -> tuple[np.ndarray, CameraFrame]:
        """One frame (the mean of ``shots_per_step`` shots), light on only meanwhile."""
        shots: list[CameraFrame] = []
        with self.devices.light.lit(self.plan.led_level):
            for _ in range(self.plan.shots_per_step):
                shots.append(self._capture_fresh(moved_at_ns))
        if len(shots) == 1:
            return shots[0].image, shots[0]
        total = np.zeros(shots[0].image.shape, np.float32)
        for s in shots:
            total += s.image
        mean = np.clip(np.rint(total / len(shots)), 0, 255).astype(np.uint8)
        return mean, shots[0]

    def _capture_fresh(self, moved_at_ns: int) -> CameraFrame:
        last_error = "no attempt"
        for attempt in range(1, CAPTURE_ATTEMPTS + 1):
            try:
                with self.heartbeat.expect(30, "capturing a frame"):
                    frame = self.camera.capture()
            except CameraError as exc:
                last_error = str(exc)
                log.warning("capture attempt %d failed: %s", attempt, exc)
                continue
            if _exposed_before(frame.sensor_timestamp_ns, moved_at_ns):
                last_error = "the frame was exposed before the rail stopped"
                log.warning("capture attempt %d: stale frame, taking another", attempt)
                continue
            return frame
        raise CaptureFailed(f"camera: {CAPTURE_ATTEMPTS} captures failed ({last_error})")


# Sensor timestamps are CLOCK_MONOTONIC on Linux (V4L2), like time.monotonic_ns(); one far
# from now comes from another clock and cannot be compared, so it is not judged stale.
_COMPARABLE_NS = 60 * 1_000_000_000


def _exposed_before(timestamp_ns: int, moved_at_ns: int) -> bool:
    return 0 < moved_at_ns - timestamp_ns < _COMPARABLE_NS


def _current_gains(camera: Camera) -> tuple[float, float]:
    current: ExposureSettings | None = camera.exposure
    return current.colour_gains if current is not None else (1.0, 1.0)
