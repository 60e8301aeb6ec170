"""Focus axes: what a stack steps between frames — the rail, or the lens's focus motor.

The capture loop only sees :class:`FocusAxis`; a plan names its axis
(:attr:`rig.plan.StackPlan.focus_axis`) and :data:`FOCUS_AXES` builds it.  A new axis
is one class here and one line in the registry.  Positions are in the axis's own unit:
millimetres on the rail, dioptres for the lens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from rig.camera.base import CameraError
from rig.devices import Devices
from rig.durable import DiskFull
from rig.jobs.heartbeat import Heartbeat
from rig.jobs.outcome import CaptureFailed
from rig.plan import StackPlan

log = logging.getLogger(__name__)

HOMING_BUDGET_S = 600.0


class FocusAxis(Protocol):
    def prepare(self) -> None:
        """Before the first frame: make positions mean something (e.g. home the rail)."""

    def move_to(self, position: float) -> None:
        """Go to ``position`` and return once there; :class:`CaptureFailed` if the
        device failed (a full disk while saving the position passes through)."""

    def return_to(self, position: float) -> None:
        """After the stack (``return_to_start``): go back there, where that makes sense."""


class RailAxis:
    """The focus rail, in millimetres; every move runs under the heartbeat's deadline."""

    def __init__(self, devices: Devices, heartbeat: Heartbeat) -> None:
        self.rail = devices.rail
        self.heartbeat = heartbeat

    def prepare(self) -> None:
        if self.rail.known:
            return
        log.info("rail position unknown: homing before the stack")
        try:
            with self.heartbeat.expect(HOMING_BUDGET_S, "homing the rail"):
                self.rail.home()
        except Exception as exc:
            raise CaptureFailed(f"the rail position is unknown and homing failed: {exc}") from exc

    def move_to(self, position: float) -> None:
        distance = abs(position - self.rail.position_mm)
        speed = max(float(self.rail.config.max_speed_mm_s), 1e-3)
        budget = 10.0 + 3.0 * distance / speed
        try:
            with self.heartbeat.expect(budget, f"moving the rail to {position:.3f} mm"):
                self.rail.move_to(position)
        except DiskFull:  # the move was made; saving its position was not
            raise
        except Exception as exc:
            raise CaptureFailed(f"rail: {exc}") from exc

    def return_to(self, position: float) -> None:
        if self.rail.known:
            self.move_to(position)


class LensAxis:
    """The camera's focus motor (Camera Module 3), in dioptres; the rail stays put."""

    def __init__(self, devices: Devices, heartbeat: Heartbeat) -> None:
        self.camera = devices.camera

    def prepare(self) -> None:
        pass  # the lens knows where it is

    def move_to(self, position: float) -> None:
        try:
            self.camera.lens_position = position
        except CameraError as exc:
            raise CaptureFailed(f"camera lens: {exc}") from exc

    def return_to(self, position: float) -> None:
        pass  # a sweep leaves the lens where it ended, as it always has


FOCUS_AXES: dict[str, Callable[[Devices, Heartbeat], FocusAxis]] = {
    "rail": RailAxis,
    "lens": LensAxis,
}


def focus_axis(plan: StackPlan, devices: Devices, heartbeat: Heartbeat) -> FocusAxis:
    return FOCUS_AXES[plan.focus_axis](devices, heartbeat)
