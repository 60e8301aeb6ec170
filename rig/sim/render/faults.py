"""Faults the virtual bench can put into a stack, so the health check has something to find.

Each is what goes wrong on a real rig: the subject (or the stage) moves at frame k, or a
part of it does (a leg, an antenna), the
LED flickers in one frame or drifts over the stack, one step of the rail is too large,
the rig still vibrates when a frame is taken (motion blur), the stack stops short of the
far end of the subject, two frames are taken out of order.  Sizes are fractions of the
frame width, so a fault looks the same at every resolution.

On the command line (``macrorig sim render --fault``) a fault is ``NAME@FRAME`` or
``NAME=VALUE`` (``move@8``, ``part@8``, ``flicker@5``, ``step@6``, ``shake@9``, ``swap@4``,
``drift=0.2``, ``short=0.3``); ``NAME@FRAME=VALUE`` also sets the size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.scene import Scene


class FaultError(ValueError):
    """A fault description that cannot be used (the message says what to write)."""


@dataclass(frozen=True)
class Faults:
    move_at: int | None = None  # the subject moves (and stays moved) from this frame on
    move: float = 0.012  # by this fraction of the frame width
    part_at: int | None = None  # part of the subject (the middle of the scene) moves ...
    part: float = 0.02  # ... by this fraction of the frame width, from this frame on
    flicker_at: int | None = None  # this frame's light is off by ...
    flicker: float = 0.2  # ... this fraction
    drift: float = 0.0  # the light changes by this fraction from the first frame to the last
    step_at: int | None = None  # the step before this frame is ...
    step: float = 4.0  # ... this many times the planned one (later frames move on with it)
    shake_at: int | None = None  # this frame is blurred by vibration ...
    shake: float = 0.006  # ... over this fraction of the frame width
    short: float = 0.0  # the stack ends this fraction of the subject's depth before its far end
    swap_at: int | None = None  # frames k and k+1 are taken in the wrong order

    @property
    def any(self) -> bool:
        return self != Faults()

    def check(self, count: int) -> None:
        for name, index in self.frames().items():
            last = count - 2 if name == "swap_at" else count - 1
            first = 1 if name in ("move_at", "step_at") else 0
            if not first <= index <= last:
                raise FaultError(f"{name[:-3]}@{index}: the frame must be {first}–{last}")
        if not 0 <= self.short < 1:
            raise FaultError(f"short={self.short:g}: give a fraction of the depth, 0 to 0.95")
        if not -0.9 <= self.drift <= 5 or not -0.9 <= self.flicker <= 5:
            raise FaultError("flicker and drift are fractions of the light, -0.9 to 5")
        if self.step <= 0 or self.move <= 0 or self.shake <= 0 or not 0 < self.part < 0.2:
            raise FaultError("step, move and shake sizes must be positive, part 0–0.2")

    def frames(self) -> dict[str, int]:
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name.endswith("_at") and getattr(self, f.name) is not None
        }

    # -- what each frame gets ----------------------------------------------------------
    def positions(self, planned: NDArray[np.float64]) -> NDArray[np.float64]:
        """Focus positions as taken (a too-large step shifts every later frame)."""
        out = planned.astype(np.float64).copy()
        if self.step_at is not None and len(out) > 1:
            step = out[self.step_at] - out[self.step_at - 1]
            out[self.step_at :] += (self.step - 1.0) * step
        if self.swap_at is not None:
            k = self.swap_at
            out[[k, k + 1]] = out[[k + 1, k]]
        return out

    def light(self, index: int, count: int) -> float:
        factor = 1.0 + self.drift * index / max(1, count - 1)
        if index == self.flicker_at:
            factor *= 1.0 + self.flicker
        return factor

    def shift_px(self, index: int, width: int) -> tuple[float, float]:
        if self.move_at is not None and index >= self.move_at:
            d = self.move * width
            return (d, 0.6 * d)
        return (0.0, 0.0)

    def part_moved(self, index: int) -> bool:
        return self.part_at is not None and index >= self.part_at

    def shake_px(self, index: int, width: int) -> float:
        return self.shake * width if index == self.shake_at else 0.0


def move_part(scene: Scene, fraction: float) -> Scene:
    """The scene with its middle (a box a third of its size) moved right by ``fraction``
    of its width: a leg or an antenna that moved while the rest held still."""
    h, w = scene.depth.shape
    d = max(1, round(fraction * w))
    y0, y1, x0, x1 = h // 3, 2 * h // 3, w // 3, 2 * w // 3

    def moved(a: NDArray[Any]) -> NDArray[Any]:
        out = a.copy()
        out[y0:y1, x0 + d : x1 + d] = a[y0:y1, x0:x1]
        return out

    return replace(
        scene,
        colour=moved(scene.colour),
        depth=moved(scene.depth),
        specular=None if scene.specular is None else moved(scene.specular),
    )


def motion_blur(image: NDArray[np.float32], length_px: float) -> NDArray[np.float32]:
    """Blur along a diagonal line ``length_px`` long (a camera swinging on its mount)."""
    if length_px < 1.0:
        return image
    half = int(np.ceil(length_px / 2))
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    for t in np.linspace(-length_px / 2, length_px / 2, 4 * half + 1):
        kernel[half + round(t * 0.6), half + round(t * 0.8)] += 1.0
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT101))


_NAMES = {f.name.removesuffix("_at") for f in fields(Faults) if f.name.endswith("_at")}
_SIZES = {"drift", "short"}


def parse(items: list[str]) -> Faults:
    """``["move@8", "drift=0.2", "step@6=3"]`` → :class:`Faults`."""
    faults = Faults()
    for item in items:
        m = re.fullmatch(r"\s*([a-z]+)\s*(?:@\s*(\d+))?\s*(?:=\s*(-?[0-9.]+))?\s*", item)
        if not m or (m[2] is None and m[3] is None):
            raise FaultError(f"--fault {item!r}: write NAME@FRAME or NAME=VALUE (e.g. move@8)")
        name, frame, value = m[1], m[2], m[3]
        if name not in _NAMES | _SIZES:
            known = ", ".join(sorted(_NAMES | _SIZES))
            raise FaultError(f"--fault {item!r}: unknown fault {name!r} (use {known})")
        changes: dict[str, object] = {}
        if frame is not None:
            if name in _SIZES:
                raise FaultError(f"--fault {item!r}: {name} applies to the whole stack: {name}=X")
            changes[f"{name}_at"] = int(frame)
        if value is not None:
            try:
                changes[name] = float(value)
            except ValueError:
                raise FaultError(f"--fault {item!r}: {value!r} is not a number") from None
        faults = replace(faults, **changes)  # type: ignore[arg-type]
    return faults
