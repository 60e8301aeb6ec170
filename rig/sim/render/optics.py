"""The optical and sensor model of the virtual bench, and its defocus kernel.

A thin-lens camera on a focus rail: a point at depth ``d`` (focus-position mm) imaged with
the focus at ``f`` spreads into a disc whose radius grows linearly with ``|d - f|``.  The
camera moves along the rail, so magnification changes slightly with focus; the rail and
mount add sub-pixel jitter; the LED flickers; the sensor adds shot and read noise.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

# The default blur is tuned for frames this wide (a 2×2-binned Pi HQ camera, 1014×760).
REFERENCE_WIDTH_PX = 1014
MID_GREY_DN = 128.0
_SUBSAMPLES = 8
# A disc smaller than this stays inside its pixel's supersampling grid: a point.
POINT_RADIUS_PX = 0.5 + 0.5 / _SUBSAMPLES


@dataclass(frozen=True)
class Optics:
    """Parameters of the virtual lens, rail and sensor.  Pixel units are scene pixels.

    blur_px_per_mm: defocus disc radius (px) per mm between a pixel's depth and the focus.
    min_blur_px: radius (px) of the blur disc of a perfectly focused point (aberrations,
        diffraction), added to the defocus radius.  Below ~0.56 px the disc stays within
        one pixel, so the default 0.4 px only shows once a point is slightly defocused.
    bokeh_rim: extra brightness at the rim of a defocus disc relative to its centre
        (0 = flat pillbox; >0 mimics the bright-edged bokeh of real macro lenses).
    magnification_per_mm: fractional image scale change per mm of focus travel; the
        image is scaled about its centre by ``1 + m * (focus - reference_focus_mm)``.
    reference_focus_mm: focus position with unit magnification; None = the middle of the
        scene's subject depth range.
    jitter_px: standard deviation of the random translation per frame (px, each axis).
    jitter_deg: standard deviation of the random rotation per frame (degrees).
    flicker: standard deviation of the per-frame exposure gain around 1.
    read_noise_dn: signal-independent noise (DN, std).
    shot_noise_dn: signal-dependent noise at mid-grey (DN std at 128 DN, ∝ √signal).
    gamma: exponent of the transfer curve between linear light and 8-bit values; blur
        and compositing happen in linear light (1.0 = blur the 8-bit values directly).
    """

    blur_px_per_mm: float = 12.0
    min_blur_px: float = 0.4
    bokeh_rim: float = 0.5
    magnification_per_mm: float = 0.01
    reference_focus_mm: float | None = None
    jitter_px: float = 0.3
    jitter_deg: float = 0.01
    flicker: float = 0.01
    read_noise_dn: float = 1.0
    shot_noise_dn: float = 1.75
    gamma: float = 2.0

    def blur_radius_px(self, depth_mm: float, focus_mm: float) -> float:
        """Radius (px) of the blur disc of a point at ``depth_mm`` with focus at ``focus_mm``."""
        return self.min_blur_px + self.blur_px_per_mm * abs(depth_mm - focus_mm)

    def magnification(self, focus_mm: float, reference_mm: float) -> float:
        """Image scale at ``focus_mm`` relative to the scale at ``reference_mm``."""
        return 1.0 + self.magnification_per_mm * (focus_mm - reference_mm)

    def noise_sigma_dn(self, level_dn: float | NDArray[np.float32]) -> NDArray[np.float32]:
        """Standard deviation of sensor noise (DN) at signal ``level_dn``."""
        shot_variance = self.shot_noise_dn**2 * np.maximum(level_dn, 0.0) / MID_GREY_DN
        return np.sqrt(self.read_noise_dn**2 + shot_variance).astype(np.float32)

    def scaled_to_width(self, width_px: int) -> Optics:
        """The same lens for frames ``width_px`` wide: the blur scales with resolution."""
        scale = width_px / REFERENCE_WIDTH_PX
        return replace(self, blur_px_per_mm=self.blur_px_per_mm * scale)

    def without_noise(self) -> Optics:
        """No sensor noise (flicker, jitter and blur unchanged)."""
        return replace(self, read_noise_dn=0.0, shot_noise_dn=0.0)

    def ideal(self) -> Optics:
        """No blur, jitter, flicker or noise: renders equal the ground truth."""
        return replace(
            self, blur_px_per_mm=0.0, min_blur_px=0.0, jitter_px=0.0, jitter_deg=0.0,
            flicker=0.0, read_noise_dn=0.0, shot_noise_dn=0.0,
        )  # fmt: skip


def default_optics(frame_width_px: int = REFERENCE_WIDTH_PX) -> Optics:
    """Default optics with the blur scaled for frames ``frame_width_px`` wide."""
    return Optics().scaled_to_width(frame_width_px)


def disc_kernel(radius_px: float, rim: float = 0.0) -> NDArray[np.float32]:
    """Normalised defocus kernel: a disc of ``radius_px`` integrated over each pixel.

    Each pixel's weight is the (rim-weighted) area of the disc falling inside it, found by
    supersampling, so the edge is anti-aliased and the kernel changes smoothly with radius;
    below ``POINT_RADIUS_PX`` the disc fits in one pixel and the kernel is a delta.
    Brightness rises towards the rim as ``1 + rim * (r / radius)^4``.  Cached: callers
    must not modify the result.
    """
    return _cached_disc_kernel(round(max(radius_px, 0.0), 2), round(rim, 3))


def kernel_half_width(radius_px: float) -> int:
    """Half the side of :func:`disc_kernel`'s square (the kernel is ``2 * half + 1`` wide)."""
    return 0 if radius_px < POINT_RADIUS_PX else math.ceil(radius_px + 0.5)


@functools.lru_cache(maxsize=2048)
def _cached_disc_kernel(radius_px: float, rim: float) -> NDArray[np.float32]:
    half = kernel_half_width(radius_px)
    steps = (np.arange(_SUBSAMPLES) + 0.5) / _SUBSAMPLES - 0.5  # offsets within a pixel
    coords = (np.arange(-half, half + 1)[:, None] + steps[None, :]).ravel()
    ys, xs = np.meshgrid(coords, coords, indexing="ij")
    distance = np.hypot(xs, ys)
    weight = np.where(
        distance <= radius_px, 1.0 + rim * (distance / max(radius_px, 1e-6)) ** 4, 0.0
    )
    size = 2 * half + 1
    kernel = weight.reshape(size, _SUBSAMPLES, size, _SUBSAMPLES).sum(axis=(1, 3))
    if kernel.sum() == 0:  # no sample inside: a point
        kernel[half, half] = 1.0
    kernel = (kernel / kernel.sum()).astype(np.float32)
    kernel.setflags(write=False)
    return kernel
