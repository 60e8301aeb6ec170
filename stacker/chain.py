"""The registration chain: every frame registered to the one before it, and its place
(warp and gain relative to the reference frame) once the chain reaches the reference.

Frames arrive in stack order and the reference is usually in the middle, so frames
after it are placed as they arrive (forwards along the chain) and frames before it once
it has arrived (backwards, through the inverse of each link).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stacker import geometry
from stacker.align import Proxy, RegistrationError, register
from stacker.geometry import Matrix

# Reference pixel → frame pixel, and the gain that brings the frame to the reference's
# brightness.
Placement = tuple[Matrix, float]


@dataclass(frozen=True)
class Link:
    """Registration of a frame to the frame before it in the chain (its template)."""

    template: int
    warp: Matrix  # template pixel → this frame's pixel
    gain: float  # this frame × gain ≈ template's brightness
    correlation: float


class RegistrationChain:
    def __init__(self) -> None:
        self.links: dict[int, Link] = {}
        self.placed: dict[int, Placement] = {}
        self._last: tuple[int, Proxy] | None = None
        self._last_step: Matrix | None = None

    def add(self, index: int, proxy: Proxy) -> Link | None:
        """Register frame ``index`` to the last frame added (None for the first).  Raises
        :class:`RegistrationError`, and the frame stays out of the chain."""
        link = None
        if self._last is not None:
            template_index, template = self._last
            try:
                reg = register(template, proxy, init=self._last_step)
            except RegistrationError:
                if self._last_step is None:
                    raise
                reg = register(template, proxy)  # the previous step was no good guess
            self._last_step = reg.warp
            link = Link(template_index, reg.warp, reg.gain, reg.correlation)
            self.links[index] = link
        self._last = (index, proxy)
        return link

    def place_identity(self, index: int) -> None:
        """The reference frame, or any frame when frames are not aligned."""
        self.placed[index] = (geometry.identity(), 1.0)

    def place_forward(self, index: int) -> bool:
        """Place ``index`` from its template's place; False when that is not known."""
        link = self.links.get(index)
        if link is None or link.template not in self.placed:
            return False
        warp_t, gain_t = self.placed[link.template]
        self.placed[index] = (link.warp @ warp_t, gain_t * link.gain)
        return True

    def template_of(self, index: int) -> int | None:
        link = self.links.get(index)
        return None if link is None else link.template

    def place_template(self, index: int) -> int:
        """Place the template of placed frame ``index`` (backwards); returns its index."""
        link = self.links[index]
        warp_c, gain_c = self.placed[index]
        self.placed[link.template] = (np.linalg.inv(link.warp) @ warp_c, gain_c / link.gain)
        return link.template
