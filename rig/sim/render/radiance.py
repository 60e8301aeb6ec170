"""Linear light ↔ 8-bit values, and a scene's radiance.

Blur and compositing must happen in linear light (a lens adds up photons, not 8-bit
values).  The transfer curve is a plain power law ``value = 255 * light ** (1 / gamma)``;
gamma 2 is close to sRGB and cheap (a square root).
"""

from __future__ import annotations

import weakref

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.scene import Scene

FloatImage = NDArray[np.float32]
CACHED_RADIANCE_MAX_PIXELS = 4_000_000
_RADIANCE: weakref.WeakKeyDictionary[Scene, tuple[float, FloatImage]] = weakref.WeakKeyDictionary()


def decode(colour: NDArray[np.uint8], gamma: float) -> FloatImage:
    """8-bit values to linear light (0–1)."""
    table = ((np.arange(256, dtype=np.float64) / 255.0) ** gamma).astype(np.float32)
    return np.asarray(cv2.LUT(colour, table), np.float32)


def encode(linear: FloatImage, gamma: float) -> FloatImage:
    """Linear light to 8-bit values (float, 0–255), clipped at full scale like a sensor."""
    clipped = np.clip(linear, 0.0, 1.0)
    encoded = np.sqrt(clipped) if gamma == 2.0 else np.power(clipped, np.float32(1.0 / gamma))
    return np.asarray(encoded * np.float32(255.0), np.float32)


def scene_radiance(scene: Scene, gamma: float) -> FloatImage:
    """The scene's linear RGB plus an opaque alpha channel (H×W×4 float32, read-only).

    Specular highlights are boosted beyond full scale (``scene.specular_gain``), so they
    saturate when sharp and still make bright discs when spread by defocus.  Kept for
    scenes up to ``CACHED_RADIANCE_MAX_PIXELS`` (a live camera renders one scene again and
    again); recomputed for larger ones, where it would hold hundreds of MB.
    """
    cached = _RADIANCE.get(scene)
    if cached is not None and cached[0] == gamma:
        return cached[1]
    radiance = _radiance(scene, gamma)
    radiance.setflags(write=False)
    if scene.depth.size <= CACHED_RADIANCE_MAX_PIXELS:
        _RADIANCE[scene] = (gamma, radiance)
    return radiance


def _radiance(scene: Scene, gamma: float) -> FloatImage:
    linear = decode(scene.colour, gamma)
    if scene.specular is not None:
        shiny = np.flatnonzero(scene.specular)
        weight = scene.specular.ravel()[shiny].astype(np.float32) / np.float32(255.0)
        linear.reshape(-1, 3)[shiny] *= (1.0 + (scene.specular_gain - 1.0) * weight)[:, None]
    opaque = np.ones(linear.shape[:2], np.float32)
    return np.asarray(cv2.merge([linear, opaque]), np.float32)
