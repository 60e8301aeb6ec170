"""Procedural textures for virtual scenes.

Focus stackers judge sharpness from fine detail and align frames on structure, so every
subject surface gets rich, non-periodic texture at many scales: octaves of coloured noise,
sprinkled dots of many sizes and fine scribbled lines.  Backgrounds that must never look
sharp get only low-frequency content (a soft gradient) so that their ground truth is
meaningful after heavy defocus.

All functions take an explicit :class:`numpy.random.Generator` so scenes are reproducible,
and sizes are ``(width, height)`` in pixels like OpenCV.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.gaussian import standard_normal

Size = tuple[int, int]
FloatImage = NDArray[np.float32]
Rgb = tuple[float, float, float]

# Texture values stay inside this band so that only deliberate specular highlights reach 255.
TEXTURE_MIN_DN = 6.0
TEXTURE_MAX_DN = 242.0


def multiscale_noise(
    size: Size,
    rng: np.random.Generator,
    persistence: tuple[float, ...] = (0.85,),
    *,
    octaves: int | None = None,
) -> FloatImage:
    """Zero-mean, unit-std noise built octave by octave (each octave twice the resolution),
    one channel per entry of ``persistence`` (at most 4).

    ``persistence`` is the amplitude ratio of each finer octave to the previous one (>1 makes
    fine detail dominate).  ``octaves`` keeps only that many of the coarsest octaves (a
    smooth, low-frequency field); the coarsest has ~3 cells across the short side.  Built
    coarse-to-fine, so the cost is ~1.3 full-size resizes.
    """
    width, height = size
    channels = len(persistence)
    level_sizes = [(width, height)]
    while min(level_sizes[-1]) > 3:
        w, h = level_sizes[-1]
        level_sizes.append(((w + 1) // 2, (h + 1) // 2))
    level_sizes.reverse()
    noisy_levels = level_sizes[: max(1, octaves or len(level_sizes))]
    field = standard_normal(rng, (noisy_levels[0][1], noisy_levels[0][0], channels))
    amplitude = np.ones(channels, np.float32)
    ratio = np.asarray(persistence, np.float32)
    for w, h in noisy_levels[1:]:
        field = _resize(field, (w, h))
        amplitude *= ratio
        field += amplitude * standard_normal(rng, (h, w, channels))
    field = _resize(field, size)
    mean, std = cv2.meanStdDev(field)
    field -= mean.ravel().astype(np.float32)
    field /= np.maximum(std.ravel(), 1e-6).astype(np.float32)
    return field


def random_palette(rng: np.random.Generator, *, dark: bool = False) -> tuple[Rgb, Rgb]:
    """Two contrasting, saturated-ish colours (RGB, DN) for one object's texture."""
    hue = rng.uniform(0.0, 360.0)
    low, high = (20.0, 110.0) if dark else (45.0, 215.0)
    first = _hsv_to_rgb(hue, rng.uniform(0.4, 0.9), low + rng.uniform(0, 25))
    second = _hsv_to_rgb((hue + rng.uniform(60.0, 180.0)) % 360.0, rng.uniform(0.3, 0.8), high)
    return first, second


def detailed_texture(
    size: Size,
    rng: np.random.Generator,
    palette: tuple[Rgb, Rgb],
    *,
    detail: float = 1.0,
) -> FloatImage:
    """A richly textured RGB surface (float32 DN): noise mixed between two palette colours,
    fine luminance grain, dots of many sizes and thin scribbled lines.

    ``detail`` scales the density of dots and lines (0 disables them).
    """
    # Broad colour variation (palette mix and RGB tint) has no fine octaves, so it is
    # built at quarter resolution; luminance grain, weighted to fine scales, at full.
    width, height = size
    coarse = multiscale_noise((-(-width // 4), -(-height // 4)), rng, (0.9, 0.8, 0.8, 0.8))
    mix = np.clip(0.5 + 0.3 * coarse[..., :1], 0.0, 1.0)
    start = np.asarray(palette[0], np.float32)
    step = np.asarray(palette[1], np.float32) - start
    coarse_colour = start + mix * step + 10.0 * coarse[..., 1:]
    colour = _resize(coarse_colour, size)
    brightness = 1.0 + 0.22 * multiscale_noise(size, rng, (1.15,))[..., 0]
    texture = np.asarray(cv2.multiply(colour, cv2.merge([brightness] * 3)), np.float32)
    if detail > 0:
        _sprinkle_dots(texture, rng, palette, detail)
        _scribble_lines(texture, rng, detail)
    np.clip(texture, TEXTURE_MIN_DN, TEXTURE_MAX_DN, out=texture)
    return texture


def smooth_background(size: Size, rng: np.random.Generator, *, dark: bool = False) -> FloatImage:
    """A soft two-colour gradient with very low-frequency mottling (float32 DN, RGB).

    Used for backgrounds that are never in focus: their all-in-focus appearance is
    already smooth, so a stacker has no detail to invent there.
    """
    # Everything here is smooth, so it is built at 1/8 resolution and interpolated up.
    width, height = size
    small = (-(-width // 8), -(-height // 8))
    angle = rng.uniform(0.0, 2 * math.pi)
    xs = (np.linspace(0, width, small[0], dtype=np.float32) - width / 2) * math.cos(angle)
    ys = (np.linspace(0, height, small[1], dtype=np.float32) - height / 2) * math.sin(angle)
    along = (ys[:, None, None] + xs[None, :, None]) / max(width, height)
    mottle = multiscale_noise(small, rng, (0.5, 0.5, 0.5), octaves=2)
    # Gentle: blurred by hundreds of pixels (and mirrored at the image edges), a steeper
    # gradient or stronger mottle would drift visibly from its all-in-focus truth.
    if dark:
        start = np.array([18, 18, 24], np.float32)
        end = np.array([28, 25, 32], np.float32)
        mottle_dn = 1.5
    else:
        start_hue = rng.uniform(0, 360)
        start = np.asarray(_hsv_to_rgb(start_hue, 0.35, 135), np.float32)
        end = np.asarray(_hsv_to_rgb((start_hue + 35) % 360, 0.4, 115), np.float32)
        mottle_dn = 3.0
    background = start + (0.5 + along) * (end - start) + np.float32(mottle_dn) * mottle
    background = np.clip(background, TEXTURE_MIN_DN, TEXTURE_MAX_DN)
    return _resize(background.astype(np.float32), size, cv2.INTER_LINEAR)


def _sprinkle_dots(
    texture: FloatImage, rng: np.random.Generator, palette: tuple[Rgb, Rgb], detail: float
) -> None:
    height, width = texture.shape[:2]
    count = int(detail * width * height / 450)
    max_radius = max(1.0, 0.012 * max(width, height))
    # Log-uniform radii: many 1-2 px specks, a few larger spots.
    radii = np.exp(rng.uniform(math.log(0.5), math.log(max_radius), count)).astype(int)
    centres = rng.uniform((0, 0), (width, height), (count, 2)).astype(int)
    shades = rng.uniform(0.25, 1.35, count)[:, None]
    colours = np.clip(np.asarray(palette, np.float64)[rng.integers(0, 2, count)] * shades, 0, 255)
    for (x, y), radius, colour in zip(
        centres.tolist(), radii.tolist(), colours.tolist(), strict=True
    ):
        cv2.circle(texture, (x, y), radius, colour, -1, cv2.LINE_AA)


def _scribble_lines(texture: FloatImage, rng: np.random.Generator, detail: float) -> None:
    height, width = texture.shape[:2]
    count = int(detail * width * height / 5000)
    for _ in range(count):
        # A short random-walk polyline: curved hairs/veins rather than straight grid lines.
        steps = int(rng.integers(3, 8))
        segment = rng.uniform(2.0, 0.02 * max(width, height) + 3.0)
        heading = rng.uniform(0, 2 * math.pi) + np.cumsum(rng.normal(0, 0.5, steps))
        offsets = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * segment, 0)
        start = rng.uniform((0, 0), (width, height))
        points = np.round(start + offsets).astype(np.int32)
        shade = float(rng.choice([0.35, 1.6])) * float(
            np.mean(texture[int(start[1]), int(start[0])])
        )
        colour = (shade, shade * rng.uniform(0.8, 1.2), shade * rng.uniform(0.8, 1.2))
        cv2.polylines(texture, [points], False, colour, 1, cv2.LINE_AA)


def _resize(field: FloatImage, size: Size, interpolation: int = cv2.INTER_CUBIC) -> FloatImage:
    channels = field.shape[2]
    resized = cv2.resize(field, size, interpolation=interpolation)
    return np.asarray(resized, np.float32).reshape(size[1], size[0], channels)


def _hsv_to_rgb(hue_deg: float, saturation: float, value: float) -> Rgb:
    """HSV (hue in degrees, saturation 0..1, value in DN) to an RGB triple in DN."""
    sector = (hue_deg % 360.0) / 60.0
    chroma = value * saturation
    second = chroma * (1 - abs(sector % 2 - 1))
    low = value - chroma
    table = [
        (chroma, second, 0.0),
        (second, chroma, 0.0),
        (0.0, chroma, second),
        (0.0, second, chroma),
        (second, 0.0, chroma),
        (chroma, 0.0, second),
    ]
    red, green, blue = table[int(sector) % 6]
    return (red + low, green + low, blue + low)
