"""Virtual scenes with a known answer: an all-in-focus colour image plus a depth map.

Depth is expressed in *focus-position millimetres*: the value at a pixel is the focus
(rail) position at which that pixel is sharp.  Larger values are farther from the camera.
Every scene has a subject inside ``depth_range`` and, for some kinds, a smooth background
far beyond it (``background_mm``) that is never sharp within a stack over the subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rig.sim.render.subjects import BUILDERS, Layout
from rig.sim.render.texture import Size

SCENE_KINDS: tuple[str, ...] = tuple(BUILDERS)
DEFAULT_DEPTH_RANGE: tuple[float, float] = (10.0, 12.0)
# Radiance of a full-weight specular highlight, in multiples of sensor full scale.
SPECULAR_GAIN = 40.0


@dataclass(frozen=True, eq=False)
class Scene:
    """An all-in-focus scene.

    ``colour``: H×W×3 uint8 RGB, what a perfect sensor records with every pixel in focus.
    ``depth``: H×W float32, focus position (mm) at which each pixel is sharp.
    ``depth_range``: (near, far) mm spanned by the subject.
    ``background_mm``: depth of the never-sharp background, or None if there is none.
    ``specular``: H×W uint8 weight (0–255) of specular highlights, or None.  Their true
    radiance is ``specular_gain`` × full scale, so they saturate when sharp and still
    make bright bokeh discs when defocused.
    """

    kind: str
    colour: NDArray[np.uint8]
    depth: NDArray[np.float32]
    depth_range: tuple[float, float]
    background_mm: float | None = None
    specular: NDArray[np.uint8] | None = None
    specular_gain: float = SPECULAR_GAIN

    @property
    def size(self) -> Size:
        """(width, height) in pixels."""
        return (self.colour.shape[1], self.colour.shape[0])


def make_scene(
    kind: str,
    size: Size = (640, 480),
    seed: int = 0,
    depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
) -> Scene:
    """Build a deterministic scene of ``kind`` (one of :data:`SCENE_KINDS`) with its subject
    between ``depth_range`` = (near, far) mm.

    planes: a plane tilted across the frame.  dome: a hemisphere on a plane.  layers:
    overlapping flat objects with hard occlusion edges.  stalk: a thin stalk in front of a
    never-sharp background.  highlights: saturating specular dots and glinting edges over a
    dark never-sharp background.  bench: an insect on a leaf (domes, occluding parts, thin
    legs and antennae, shiny eyes) over a never-sharp background, for the simulated rig.
    """
    if kind not in BUILDERS:
        raise ValueError(f"unknown scene kind {kind!r}; choose from {', '.join(SCENE_KINDS)}")
    width, height = size
    if width < 16 or height < 16:
        raise ValueError(f"scene size {width}x{height} is too small (minimum 16x16)")
    near, far = float(depth_range[0]), float(depth_range[1])
    if not near < far:
        raise ValueError(f"depth_range must be (near, far) with near < far, got {depth_range}")
    rng = np.random.default_rng(seed)
    canvas, background_mm = BUILDERS[kind](Layout(size, near, far), rng)
    subject = canvas.depth != background_mm if background_mm is not None else slice(None)
    canvas.depth[subject] = np.clip(canvas.depth[subject], near, far)
    colour = np.clip(np.rint(canvas.colour), 0, 255).astype(np.uint8)
    specular = canvas.specular if canvas.specular.any() else None
    for array in (colour, canvas.depth, specular):
        if array is not None:
            array.setflags(write=False)
    return Scene(kind, colour, canvas.depth, (near, far), background_mm, specular)
