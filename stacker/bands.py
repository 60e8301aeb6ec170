"""Colour to fixed-point luma/chroma and Laplacian band decomposition of one tile.

Fusion decides on luminance and carries colour along, so a frame is split into
luma Y (full resolution) and chroma Cr/Cb (half resolution — the eye, and JPEG, need no
more).  Values are int16 in a 12-bit fixed-point scale (``ONE`` units per 8-bit step):
precise enough for 16-bit output, small enough that every band fits int16 with headroom.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stacker import geometry
from stacker.geometry import Matrix, Rect

ONE = 16  # fixed-point units per 8-bit code value; full scale 255 → 4080
FULL_SCALE = 255 * ONE
# Levels 0..TILE_LEVELS-1 are computed per tile; level TILE_LEVELS is handed on whole.
TILE_LEVELS = 3


@dataclass
class TileBands:
    """Laplacian bands of one tile: ``luma[k]`` and ``chroma[k]`` for k < TILE_LEVELS
    (chroma's finest band too: the fused pyramid keeps it, companded to int8), and the
    Gaussian level TILE_LEVELS of both."""

    luma: list[np.ndarray]
    chroma: list[np.ndarray]
    luma_low: np.ndarray
    chroma_low: np.ndarray
    luma_half: np.ndarray  # Gaussian level 1 of luma: brightness on the decision grid
    gain: float  # applied to the frame's values (full scale is FULL_SCALE × gain)


# Rows of the outer tile warped per call: the float temporaries stay well under the
# allocator's mmap threshold (stacker.memory) and in cache.
_WARP_ROWS = 128
# Source pixels bicubic interpolation reads beyond the mapped point (and rounding).
_CUBIC_REACH = 3


def warped_ycc(
    src: np.ndarray, warp: Matrix | None, outer: Rect, interpolation: int, gain: float, bgr: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The outer tile of ``src`` seen through ``warp`` (output→source), as fixed-point
    (Y, CrCb) like :func:`to_fixed_ycc`; the reference frame is never resampled.

    The source is converted to floating-point Y/Cr/Cb first and resampled as floats:
    OpenCV's float bicubic is about a third cheaper than its 8-bit one, and nothing is
    rounded to 8 bits in between (both steps are linear, so the order does not matter).
    Done in strips of rows, each converting only the source area its pixels map to."""
    if warp is None:
        return to_fixed_ycc(src[outer.y0 : outer.y1, outer.x0 : outer.x1], gain, bgr)
    m = _ycc_matrix(src.dtype, gain, bgr)
    luma = np.empty((outer.height, outer.width), np.int16)
    chroma = np.empty((outer.height, outer.width, 2), np.int16)
    for r0 in range(0, outer.height, _WARP_ROWS):
        r1 = min(outer.height, r0 + _WARP_ROWS)
        strip = warp @ geometry.translation(outer.x0, outer.y0 + r0)
        area = _source_area(strip, (outer.width, r1 - r0), (src.shape[1], src.shape[0]))
        ycc = cv2.transform(src[area.y0 : area.y1, area.x0 : area.x1].astype(np.float32), m)
        warped = cv2.warpAffine(
            ycc,
            geometry.to_cv(geometry.translation(-area.x0, -area.y0) @ strip),
            (outer.width, r1 - r0),
            flags=interpolation | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT101,
        )
        # numpy's rounding and cast: OpenCV's float → int16 with a scalar is 5× slower.
        fixed = np.rint(warped, out=warped).astype(np.int16)
        cv2.extractChannel(fixed, 0, dst=luma[r0:r1])
        cv2.mixChannels([fixed], [chroma[r0:r1]], [1, 0, 2, 1])
    return luma, chroma


def _source_area(strip: Matrix, size: tuple[int, int], frame: tuple[int, int]) -> Rect:
    """The part of a frame of ``frame`` = (width, height) that warping an output area of
    ``size`` through ``strip`` reads, with BORDER_REFLECT101 giving what it gives on the
    whole frame: where the area leaves the frame, it reaches to the frame's edge (the
    mirror line) and over every pixel mirrored back."""
    w, h = size
    corners = strip[:2] @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]])
    (x0, x1), (y0, y1) = (
        _mirrored_span(float(lo) - _CUBIC_REACH, float(hi) + _CUBIC_REACH, n)
        for lo, hi, n in (
            (corners[0].min(), corners[0].max(), frame[0]),
            (corners[1].min(), corners[1].max(), frame[1]),
        )
    )
    return Rect(x0, y0, x1, y1)


def _mirrored_span(lo: float, hi: float, n: int) -> tuple[int, int]:
    """[start, stop) of the pixels 0..n-1 that coordinates lo..hi read under reflection
    about pixels 0 and n-1 (one reflection: a tile never maps a frame away)."""
    start, stop = int(np.floor(lo)), int(np.ceil(hi)) + 1
    if start < 0:
        stop, start = max(stop, -start + 1), 0
    if stop > n:
        start, stop = min(start, 2 * (n - 1) - stop + 1), n
    return max(0, start), min(n, max(stop, start + 1))


# Rows: Y, Cr, Cb from R, G, B (ITU-R BT.601, as OpenCV's YCrCb), chroma centred on 0.
_RGB_TO_YCC = np.array(
    [[0.299, 0.587, 0.114], [0.5, -0.418688, -0.081312], [-0.168736, -0.331264, 0.5]]
)


def _ycc_matrix(dtype: np.dtype, gain: float, bgr: bool) -> np.ndarray:
    """3×3: frame values (RGB, or BGR) → fixed-point Y, Cr, Cb, ``gain`` applied."""
    peak = 65535.0 if dtype == np.uint16 else 255.0
    m = _RGB_TO_YCC * (gain * FULL_SCALE / peak)
    return m[:, ::-1] if bgr else m


def to_fixed_ycc(rgb: np.ndarray, gain: float, bgr: bool) -> tuple[np.ndarray, np.ndarray]:
    """(Y int16, CrCb int16 two-channel centred on 0) in fixed point, gain applied.

    A matrix multiply (cv2.transform, computed in floating point, rounded into int16):
    OpenCV's 8-bit YCrCb conversion would round every pixel by up to a code value before
    we could keep the fraction."""
    m = _ycc_matrix(rgb.dtype, gain, bgr)
    if rgb.dtype == np.uint16:  # int16 cannot hold it: go through floats
        img = rgb.astype(np.float32)
        luma = np.rint(cv2.transform(img, m[:1])).astype(np.int16)
        chroma = np.rint(cv2.transform(img, m[1:])).astype(np.int16)
        return luma, chroma
    # One 3×3 transform (OpenCV vectorises that case; a 1- or 2-row matrix takes a
    # generic path ~10× slower), then the channels apart.
    ycc = cv2.transform(rgb.astype(np.int16), m)
    y = cv2.extractChannel(ycc, 0)
    crcb = np.empty((*y.shape, 2), np.int16)
    cv2.mixChannels([ycc], [crcb], [1, 0, 2, 1])
    return y, crcb


def _down(img: np.ndarray) -> np.ndarray:
    return cv2.pyrDown(img)


def _up(img: np.ndarray, like: np.ndarray) -> np.ndarray:
    return cv2.pyrUp(img, dstsize=(like.shape[1], like.shape[0]))


def laplacian_bands(gauss: list[np.ndarray], overwrite: int = 0) -> list[np.ndarray]:
    """Band k = Gaussian level k minus the expanded level k+1 (last Gaussian excluded).
    The ``overwrite`` finest Gaussian levels become their bands in place (the caller
    needs them no more): a tile's worth of memory less per worker."""
    return [
        cv2.subtract(g, _up(gauss[k + 1], g), dst=g if k < overwrite else None)
        for k, g in enumerate(gauss[:-1])
    ]


def gaussian_levels(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [img]
    for _ in range(levels):
        out.append(_down(out[-1]))
    return out


def decompose_tile(luma: np.ndarray, chroma_full: np.ndarray, gain: float) -> TileBands:
    """Bands of one tile's fixed-point Y and full-resolution CrCb (:func:`warped_ycc`);
    both arrays are consumed (their finest band is computed in their buffers)."""
    g_luma = gaussian_levels(luma, TILE_LEVELS)
    g_chroma = gaussian_levels(chroma_full, TILE_LEVELS)
    l_luma = laplacian_bands(g_luma, overwrite=1)  # level 1 stays: it is luma_half
    l_chroma = laplacian_bands(g_chroma, overwrite=TILE_LEVELS)
    return TileBands(
        luma=l_luma,
        chroma=l_chroma,
        luma_low=g_luma[-1],
        chroma_low=g_chroma[-1],
        luma_half=g_luma[1],
        gain=gain,
    )


def collapse(low: np.ndarray, bands: list[np.ndarray]) -> np.ndarray:
    """Rebuild the finest level from a Gaussian level and the bands above it (coarse
    last in ``bands``); adds into the finest band's buffer to save a full-size copy."""
    img = low
    for band in reversed(bands):
        up = _up(img, band)
        cv2.add(band, up, dst=band)
        img = band
    return img


# Rows: R, G, B from Y, Cr, Cb (chroma centred on 0), with the coefficients of OpenCV's
# floating-point YCrCb → RGB conversion.
_YCC_TO_RGB = np.array([[1.0, 1.403, 0.0], [1.0, -0.714, -0.344], [1.0, 0.0, 1.773]])


def _fixed_ycc_to_float_rgb(luma: np.ndarray, chroma_full: np.ndarray, bgr: bool) -> np.ndarray:
    """Fixed-point Y + full-resolution CrCb (float32) → float32 RGB (or BGR), 1.0 = full
    scale, not clipped.  One 3×3 transform on the merged planes: assembling a YCrCb
    image for cvtColor with numpy took three times as long as everything else."""
    m = _YCC_TO_RGB / FULL_SCALE
    ycc = cv2.merge([luma.astype(np.float32), chroma_full])
    return cv2.transform(ycc, m[::-1] if bgr else m)


def fixed_ycc_to_rgb16(luma: np.ndarray, chroma_full: np.ndarray, bgr: bool) -> np.ndarray:
    """Fixed-point Y + full-resolution CrCb → 16-bit RGB (or BGR)."""
    return _to_u16(_fixed_ycc_to_float_rgb(luma, chroma_full, bgr))


def fixed_ycc_to_rgb8(luma: np.ndarray, chroma_full: np.ndarray, bgr: bool) -> np.ndarray:
    """Fixed-point Y + full-resolution CrCb → 8-bit RGB (or BGR), rounded once: what a
    JPEG is made of, without the 16-bit detour (within one code value of it)."""
    rgb = _fixed_ycc_to_float_rgb(luma, chroma_full, bgr)
    cv2.max(rgb, 0.0, dst=rgb)  # convertScaleAbs takes the absolute value
    return cv2.convertScaleAbs(rgb, alpha=255.0)  # rounds and saturates at 255


def _to_u16(img: np.ndarray) -> np.ndarray:
    """Floats (1.0 = full scale) → uint16, rounded to nearest and saturated, in one
    OpenCV pass (numpy's scale, clip, round and cast took four, ~5× as long).  As one
    channel, so that the scalar scales every sample."""
    flat = img.reshape(img.shape[0], -1)
    return cv2.multiply(flat, 65535.0, dtype=cv2.CV_16U).reshape(img.shape)
