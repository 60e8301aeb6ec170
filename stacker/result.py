"""The fused image as planes, turned into RGB rows only when written or asked for.

Holding luma and chroma planes (≈ 5 bytes a pixel) instead of a 16-bit RGB copy
(6 bytes a pixel) — and converting in bands of rows straight into whatever the output
needs (8-bit for JPEG, 16-bit tiles for TIFF) — keeps the end of a stack within the same
memory as its middle.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from stacker.bands import fixed_ycc_to_rgb8, fixed_ycc_to_rgb16
from stacker.compand import expand
from stacker.geometry import Rect
from stacker.health.record import HealthRecorder

_BAND_ROWS = 128


class FusedImage:
    """Fixed-point planes of the fused image, cropped to ``crop`` when converted."""

    def __init__(
        self,
        luma: np.ndarray,
        chroma_half: np.ndarray,
        chroma_fine: np.ndarray,
        crop: Rect,
        bgr: bool,
    ) -> None:
        self._luma, self._chroma_half, self._chroma_fine = luma, chroma_half, chroma_fine
        self.crop = crop
        self.bgr = bgr  # channel order of the rows produced

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.crop.height, self.crop.width, 3)

    def rows16(self, y0: int, y1: int) -> np.ndarray:
        """Rows [y0, y1) of the output as uint16 H×W×3."""
        return fixed_ycc_to_rgb16(*self._planes(y0, y1), self.bgr)

    def rows8(self, y0: int, y1: int, bgr: bool | None = None) -> np.ndarray:
        """Rows [y0, y1) of the output as uint8 H×W×3 (in ``bgr`` order if given)."""
        return fixed_ycc_to_rgb8(*self._planes(y0, y1), self.bgr if bgr is None else bgr)

    def _planes(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows [y0, y1): luma and full-resolution chroma (float32)."""
        c = self.crop
        top, bottom = c.y0 + y0, c.y0 + min(y1, c.height)
        half_rows = self._chroma_half.shape[0]
        c0, c1 = max(0, top // 2 - 2), min(half_rows, (bottom + 1) // 2 + 2)
        width = self._luma.shape[1]
        up = cv2.pyrUp(self._chroma_half[c0:c1], dstsize=(width, 2 * (c1 - c0)))
        fine = expand(self._chroma_fine[top:bottom, c.x0 : c.x1])
        chroma = cv2.add(up[top - 2 * c0 : bottom - 2 * c0, c.x0 : c.x1], fine, dtype=cv2.CV_32F)
        return self._luma[top:bottom, c.x0 : c.x1], chroma

    def bands16(self) -> Iterator[tuple[int, np.ndarray]]:
        for y in range(0, self.crop.height, _BAND_ROWS):
            yield y, self.rows16(y, y + _BAND_ROWS)

    def to_uint16(self) -> np.ndarray:
        out = np.empty(self.shape, np.uint16)
        for y, rows in self.bands16():
            out[y : y + rows.shape[0]] = rows
        return out

    def to_uint8(self, bgr: bool | None = None) -> np.ndarray:
        """8-bit rows (channels in ``bgr`` order if given, else the frames'), bands
        converted on every core: writing the result is what a live stack waits for
        after its last frame."""
        out = np.empty(self.shape, np.uint8)

        def convert(y: int) -> None:
            rows = self.rows8(y, y + _BAND_ROWS, bgr)
            out[y : y + rows.shape[0]] = rows

        workers = min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="result") as pool:
            for _ in pool.map(convert, range(0, self.crop.height, _BAND_ROWS)):
                pass
        return out


@dataclass
class StackResult:
    """What a stack produced: the fused image, the depth map if asked for, and a report
    per frame (which were fused, which skipped and why)."""

    fused: FusedImage
    depth: np.ndarray | None  # uint8 H×W, near = bright
    reference: int
    frames: list = field(default_factory=list)  # list[FrameReport]
    health: HealthRecorder | None = None  # what the health check measured per frame

    @property
    def crop(self) -> Rect:
        """The output's area in reference-frame pixels."""
        return self.fused.crop

    @property
    def bgr(self) -> bool:
        return self.fused.bgr

    @property
    def skipped(self) -> list:
        return [f for f in self.frames if f.status == "skipped"]

    def to_uint8(self) -> np.ndarray:
        return self.fused.to_uint8()

    def to_uint16(self) -> np.ndarray:
        return self.fused.to_uint16()
