"""Faults on the live simulated bench (``[sim] faults``), frame by frame as a stack runs.

The same faults as the renderer's (:mod:`rig.sim.render.faults`, same ``NAME@K`` /
``NAME=X`` syntax), applied by the simulated camera to the frames of each stack.  A
stack starts when its exposure is fixed (every stack fixes it before its first frame);
frames are counted from there.  The camera does not know the plan, so a too-large step
repeats the carriage's last step (step−1) times more, frames swapped render one step
ahead and one step back, a short stack shifts the focus by ``short`` × the subject's
depth, and ``drift`` is the change in light over 10 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.sim.render.faults import Faults

DRIFT_FRAMES = 10


@dataclass(frozen=True)
class FrameFaults:
    """What one frame gets."""

    focus_mm: float
    light: float
    shift_px: tuple[float, float]
    shake_px: float
    part_moved: bool  # render the scene with its middle moved (rig.sim.render.faults)


class LiveFaults:
    def __init__(self, faults: Faults, subject_depth_mm: float) -> None:
        self.faults = faults
        self.depth = subject_depth_mm
        self.begin()

    def begin(self) -> None:
        """A new stack: count frames from 0."""
        self.index = 0
        self._last_mm: float | None = None
        self._offset = 0.0

    def frame(self, focus_mm: float, width: int) -> FrameFaults:
        f, k = self.faults, self.index
        step = 0.0 if self._last_mm is None else focus_mm - self._last_mm
        self._last_mm = focus_mm
        if k == f.step_at:
            self._offset += (f.step - 1.0) * step
        seen = focus_mm + self._offset - f.short * self.depth
        if f.swap_at is not None and k == f.swap_at:
            seen += step
        elif f.swap_at is not None and k == f.swap_at + 1:
            seen -= step
        self.index += 1
        return FrameFaults(
            focus_mm=seen,
            light=(1.0 + f.drift * k / DRIFT_FRAMES) * (1.0 + f.flicker * (k == f.flicker_at)),
            shift_px=f.shift_px(k, width),
            shake_px=f.shake_px(k, width),
            part_moved=f.part_moved(k),
        )
