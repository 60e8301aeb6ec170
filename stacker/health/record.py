"""What the health check keeps of each frame: a few numbers and a coarse sharpness grid.

The stream hands every frame's registration proxy (the reduced grey copy it already
made) and its registration link to :class:`HealthRecorder` in capture order, as the frame
arrives.  The recorder keeps, per frame: the link to its template (similarity warp, gain,
correlation) or why it was skipped, its mean brightness, and on a grid of 16 columns
its mean level and the log₂ energy of its finest detail (≈ 400 numbers, under 2 KB a
frame: a 1000-frame stack holds under 2 MB).  Nothing here decides anything:
:mod:`stacker.health.assess` does, once the stack is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from stacker.align import Proxy
from stacker.chain import Link

GRID_COLUMNS = 16
# The detail band: the proxy (already smoothed at σ 0.8) minus a wider blur of it.
_DETAIL_SIGMA = 1.5
# Energies below this (relative to the frame's squared mean brightness) are treated as
# equal: nothing measurable.
_FLOOR = 1e-9


@dataclass(frozen=True)
class FrameRecord:
    """One frame as the health check saw it (capture order)."""

    index: int
    name: str | None
    template: int | None  # registered to this earlier frame (None: the first, or skipped)
    warp: np.ndarray | None  # 2×3, template pixel → this frame's pixel (full size)
    gain: float  # this frame × gain ≈ its template's brightness
    correlation: float | None
    skipped: str | None  # why the stacker could not use it
    brightness: float  # mean of the grey proxy, 0–1
    sharpness: np.ndarray  # rows×GRID_COLUMNS float32, log₂ detail energy
    light: np.ndarray  # rows×GRID_COLUMNS float32, mean grey level 0–1


@dataclass
class HealthRecorder:
    """Collects :class:`FrameRecord` s; the stream calls :meth:`observe` once per frame."""

    frames: list[FrameRecord] = field(default_factory=list)
    size: tuple[int, int] | None = None  # (width, height) of the frames

    def observe(
        self,
        index: int,
        proxy: Proxy,
        link: Link | None,
        *,
        skipped: str | None = None,
        name: str | None = None,
    ) -> None:
        self.size = proxy.full_size
        image = proxy.image
        brightness = float(image.mean())
        self.frames.append(
            FrameRecord(
                index=index,
                name=name,
                template=None if link is None else link.template,
                warp=None if link is None else np.array(link.warp[:2], np.float64),
                gain=1.0 if link is None else float(link.gain),
                correlation=None if link is None else float(link.correlation),
                skipped=skipped,
                brightness=brightness,
                sharpness=detail_grid(image, brightness),
                light=cv2.resize(image, _grid(image), interpolation=cv2.INTER_AREA),
            )
        )

    def mark_skipped(self, index: int, reason: str) -> None:
        """A frame observed as usable turned out not to be (a later frame showed it)."""
        for i, record in enumerate(self.frames):
            if record.index == index:
                self.frames[i] = replace(record, template=None, warp=None, skipped=reason)


def detail_grid(image: np.ndarray, brightness: float) -> np.ndarray:
    """log₂ of the finest detail's mean energy per grid cell, relative to the frame's
    squared brightness (so an exposure change alone leaves it unchanged)."""
    band = cv2.subtract(image, cv2.GaussianBlur(image, (0, 0), _DETAIL_SIGMA))
    energy = cv2.multiply(band, band, scale=1.0 / max(brightness, 1e-3) ** 2)
    cells = cv2.resize(energy, _grid(image), interpolation=cv2.INTER_AREA)
    return np.log2(np.maximum(cells, _FLOOR)).astype(np.float32)


def _grid(image: np.ndarray) -> tuple[int, int]:
    """(columns, rows) of the grid for a frame of this shape."""
    h, w = image.shape
    return GRID_COLUMNS, max(1, round(GRID_COLUMNS * h / w))
