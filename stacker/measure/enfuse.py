"""The anchor: Hugin's ``align_image_stack`` + ``enfuse`` (Debian packages hugin-tools and
enfuse) with the flags a focus stacker uses, on the same frame files as macrorig.

``align_image_stack -m -C`` keeps the first frame's geometry (it is the optimiser's
anchor) and crops to what every frame covers; the crop's offset in the first frame's
pixels is in the TIFFs' position tags, so results can be compared with ground truth.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stacker.measure.child import Measured, run_measured

ALIGN = ("align_image_stack", "-m", "-C")
ENFUSE = (
    "enfuse",
    "--hard-mask",
    "--contrast-window-size=9",
    "--contrast-weight=1",
    "--exposure-weight=0",
    "--saturation-weight=0",
)
INSTALL_HINT = "install them with scripts/install-test-deps.sh (Debian: enfuse, hugin-tools)"


def missing() -> list[str]:
    """The anchor's programs that are not on PATH."""
    return [tool for tool in (ALIGN[0], ENFUSE[0]) if shutil.which(tool) is None]


@dataclass(frozen=True)
class AnchorResult:
    image: np.ndarray  # RGB uint8
    offset: tuple[int, int]  # (x, y) of the image's first pixel in the first frame's pixels
    align: Measured | None  # None when the frames were given aligned
    fuse: Measured

    @property
    def wall_s(self) -> float:
        return self.fuse.wall_s + (self.align.wall_s if self.align else 0.0)

    @property
    def peak_rss_mb(self) -> float:
        return max(self.fuse.peak_rss_mb, self.align.peak_rss_mb if self.align else 0.0)


def align_and_fuse(frames: Sequence[Path], workdir: Path) -> AnchorResult:
    """Register ``frames`` (files, in stack order) with align_image_stack, then fuse."""
    _require()
    prefix = workdir / "aligned"
    align = run_measured([*ALIGN, "-a", str(prefix), *map(str, frames)]).check(ALIGN[0])
    aligned = sorted(workdir.glob("aligned*.tif"))
    if len(aligned) != len(frames):
        raise RuntimeError(f"{ALIGN[0]} wrote {len(aligned)} of {len(frames)} frames")
    result = fuse(aligned, workdir)
    return AnchorResult(result.image, result.offset, align, result.fuse)


def fuse(frames: Sequence[Path], workdir: Path) -> AnchorResult:
    """Fuse frame files that are already aligned."""
    _require()
    out = workdir / "enfused.tif"
    fused = run_measured([*ENFUSE, "-o", str(out), *map(str, frames)]).check(ENFUSE[0])
    return AnchorResult(_read_rgb(out), _offset(out), None, fused)


def fuse_arrays(frames: Sequence[np.ndarray], workdir: Path) -> np.ndarray:
    """Fuse aligned RGB uint8 frames held in memory; returns RGB uint8."""
    paths = []
    for i, frame in enumerate(frames):
        path = workdir / f"frame_{i:04d}.tif"
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return fuse(paths, workdir).image


def _require() -> None:
    if gone := missing():
        raise FileNotFoundError(f"{' and '.join(gone)} not found: {INSTALL_HINT}")


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim != 3:
        raise RuntimeError(f"{path}: not a colour image")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / 65535.0)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def _offset(path: Path) -> tuple[int, int]:
    """The TIFF position tags (inches at the file's resolution) in pixels."""
    from PIL import Image, TiffImagePlugin

    with Image.open(path) as im:
        if not isinstance(im, TiffImagePlugin.TiffImageFile):
            return 0, 0
        tags = im.tag_v2
        x, y = float(tags.get(286, 0.0)), float(tags.get(287, 0.0))
        xres, yres = float(tags.get(282, 1.0)), float(tags.get(283, 1.0))
    return round(x * xres), round(y * yres)
