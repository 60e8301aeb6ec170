"""The capture loop of one stack: move → settle → light → capture → hand over.

Everything slow or fallible is bounded: moves and captures run under the heartbeat's
deadlines, a capture that times out or returns a frame exposed before the move ended is
retried, the light is on only while exposing, and a stop request (cancel or shutdown)
takes effect after the frame in progress.
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
from rig.durable import DiskFull
from rig.jobs.heartbeat import Heartbeat
from rig.jobs.writer import FrameWriter
from rig.plan import StackPlan
from rig.rail import FocusRail

log = logging.getLogger(__name__)

CAPTURE_ATTEMPTS = 3
HOMING_BUDGET_S = 600.0


class CaptureStopped(Exception):
    """The capture stopped on request; ``reason`` is "cancel" or "shutdown"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class CaptureFailed(Exception):
    """A device failed for good during the capture (message says which and why)."""


class StopFlags:
    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.shutdown = threading.Event()

    def check(self) -> None:
        if self.shutdown.is_set():
            raise CaptureStopped("shutdown")
        if self.cancel.is_set():
            raise CaptureStopped("cancel")


@dataclass
class Capture:
    devices: Devices
    plan: StackPlan
    positions: list[float]
    writer: FrameWriter
    heartbeat: Heartbeat
    stop: StopFlags
    on_frame: Callable[[int], None]

    @property
    def rail(self) -> FocusRail:
        return self.devices.rail

    @property
    def camera(self) -> Camera:
        return self.devices.camera

    def run(self, start_index: int) -> None:
        """Capture frames ``start_index``… of the plan.  Raises CaptureStopped or
        CaptureFailed; the light is off whatever happens."""
        light = self.devices.light
        if start_index >= len(self.positions):
            return  # a resumed job whose frames were all saved: only the stacking is left
        try:
            if self.plan.uses_rail:
                self._ensure_position_known()
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
                self.on_frame(index)
        finally:
            light.off()

    def return_to_start(self) -> None:
        if self.plan.uses_rail and self.rail.known:
            self._go_to(self.positions[0], settle=False)

    # -- steps -----------------------------------------------------------------------
    def _ensure_position_known(self) -> None:
        if self.rail.known:
            return
        log.info("rail position unknown: homing before the stack")
        try:
            with self.heartbeat.expect(HOMING_BUDGET_S, "homing the rail"):
                self.rail.home()
        except Exception as exc:
            raise CaptureFailed(f"the rail position is unknown and homing failed: {exc}") from exc

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

    def _go_to(self, position: float, settle: bool = True) -> int:
        """Move (rail mm or lens dioptres) and settle; the monotonic time (ns) when the
        optics came to rest."""
        if self.plan.uses_rail:
            distance = abs(position - self.rail.position_mm)
            budget = 10.0 + 3.0 * distance / max(self.rail_speed, 1e-3)
            try:
                with self.heartbeat.expect(budget, f"moving the rail to {position:.3f} mm"):
                    self.rail.move_to(position)
            except DiskFull:  # the move was made; saving its position was not
                raise
            except Exception as exc:
                raise CaptureFailed(f"rail: {exc}") from exc
        else:
            try:
                self.camera.lens_position = position
            except CameraError as exc:
                raise CaptureFailed(f"camera lens: {exc}") from exc
        if settle and self.plan.settle_s > 0:
            # Settle is part of the frame in progress: a stop request does not cut it short.
            time.sleep(self.plan.settle_s)
        return time.monotonic_ns()

    @property
    def rail_speed(self) -> float:
        return float(self.rail.config.max_speed_mm_s)

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
