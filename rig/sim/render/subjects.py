"""The subjects of the scene kinds, drawn on a z-buffered canvas.

Each builder gets the scene size and depth range (:class:`Layout`) and a seeded random
generator, and returns the canvas plus the depth of its never-sharp background (or None).
Sizes are relative to the frame, so a scene looks the same at any resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rig.sim.render.shapes import Canvas, dome, ellipse_points, stroke, tilted_polygon
from rig.sim.render.texture import Size, detailed_texture, random_palette, smooth_background

# A never-sharp background sits this many subject depth spans beyond the far end:
# 14 × 2 mm behind a 10–12 mm subject puts it at 40 mm.
BACKGROUND_SPANS_BEHIND = 14.0
# Glinting edges are long, so a much weaker boost keeps their bokeh from flooding the frame.
EDGE_GLINT_WEIGHT = 0.15


@dataclass(frozen=True)
class Layout:
    """Scene size and depth range, with helpers that place things in relative units."""

    size: Size
    near: float
    far: float

    @property
    def unit(self) -> float:
        return float(min(self.size))

    @property
    def background_mm(self) -> float:
        return self.far + BACKGROUND_SPANS_BEHIND * (self.far - self.near)

    def at(self, fx: float, fy: float) -> tuple[float, float]:
        return (fx * self.size[0], fy * self.size[1])

    def mm(self, fraction: float) -> float:
        """Depth ``fraction`` of the way from near (0) to far (1)."""
        return self.near + fraction * (self.far - self.near)


def _textured(
    rng: np.random.Generator, *, dark: bool = False, detail: float = 1.0
) -> Callable[[Size], NDArray[np.float32]]:
    palette = random_palette(rng, dark=dark)
    texture_seed = int(rng.integers(2**31))
    return lambda box: detailed_texture(
        box, np.random.default_rng(texture_seed), palette, detail=detail
    )


def _planes(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """One plane tilted across the whole frame, spanning the depth range corner to corner."""
    width, height = layout.size
    canvas = Canvas(layout.size, _textured(rng)(layout.size), layout.far)
    xs = np.linspace(0.0, 0.75, width, dtype=np.float32)
    ys = np.linspace(0.0, 0.25, height, dtype=np.float32)
    canvas.depth[:] = layout.near + (layout.far - layout.near) * (ys[:, None] + xs[None, :])
    return canvas, None


def _dome(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """A hemisphere rising from a plane at the far end to the near end at its apex."""
    canvas = Canvas(layout.size, _textured(rng)(layout.size), layout.far)
    centre = layout.at(0.5 + rng.uniform(-0.04, 0.04), 0.5 + rng.uniform(-0.04, 0.04))
    radius = 0.38 * layout.unit
    canvas.paint(dome(centre, (radius, radius), 0.0, layout.far, layout.near), _textured(rng))
    return canvas, None


def _layers(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """Five flat, overlapping objects at evenly spaced depths over a far plane: hard
    occlusion edges."""
    canvas = Canvas(layout.size, _textured(rng)(layout.size), layout.far)
    for fraction in (0.8, 0.6, 0.4, 0.2, 0.0):
        centre = layout.at(rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
        radii = rng.uniform(0.15, 0.3) * layout.unit * (1 + 0.35 * rng.uniform(-1, 1, 9))
        angles = np.sort(rng.uniform(0, 2 * math.pi, 9))
        outline = np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None] + centre
        canvas.paint(tilted_polygon(outline, layout.mm(fraction)), _textured(rng))
    return canvas, None


def _stalk(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """A thin textured stalk (with hairs and a bud) spanning the depth range, in front of a
    smooth background that is never sharp: the halo trap."""
    width, height = layout.size
    background_mm = layout.background_mm
    canvas = Canvas(layout.size, smooth_background(layout.size, rng), background_mm)
    ys = np.linspace(height * 1.02, 0.18 * height, 9)
    xs = width * (0.45 + 0.05 * np.sin(np.linspace(0, 3, 9) + rng.uniform(0, 6)))
    path = np.stack([xs, ys], axis=1)
    stalk_width = max(3.0, 0.006 * width)
    canvas.paint(
        stroke(path, stalk_width, _depths(layout, 1.0, 0.1, 9)), _textured(rng, detail=0.6)
    )
    for branch in (3, 5, 6):
        side = 1 if branch % 2 else -1
        start = path[branch]
        end = start + np.array(
            [side * rng.uniform(0.1, 0.2) * width, -rng.uniform(0.05, 0.15) * height]
        )
        hair = np.stack([start, (start + end) / 2 + rng.normal(0, 0.02 * width, 2), end])
        fraction = 1.0 - 0.9 * branch / 8
        hair_depths = _depths(layout, fraction, fraction - 0.1, 3)
        canvas.paint(
            stroke(hair, max(1.0, 0.0015 * width), hair_depths), _textured(rng, detail=0.3)
        )
    bud_centre = (float(path[-1, 0]), float(path[-1, 1]))
    bud_axes = (0.035 * layout.unit, 0.045 * layout.unit)
    canvas.paint(dome(bud_centre, bud_axes, 0, layout.mm(0.12), layout.near), _textured(rng))
    return canvas, background_mm


def _highlights(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """A dark textured dome and plate with saturating specular dots and glinting edges over a
    dark, never-sharp background: defocused, they make bright bokeh discs."""
    background_mm = layout.background_mm
    canvas = Canvas(layout.size, smooth_background(layout.size, rng, dark=True), background_mm)
    plate = np.array([layout.at(*p) for p in ((0.1, 0.15), (0.55, 0.1), (0.6, 0.5), (0.15, 0.6))])
    slope = (layout.far - layout.near) * 0.3 / layout.size[0]
    canvas.paint(tilted_polygon(plate, layout.mm(0.7), (slope, 0.0)), _textured(rng, dark=True))
    _sparkle_line(canvas, layout, plate[[0, 1, 2]], EDGE_GLINT_WEIGHT)  # the dome hides part
    body_centre, body_axes = layout.at(0.55, 0.58), (0.34 * layout.unit, 0.24 * layout.unit)
    canvas.paint(
        dome(body_centre, body_axes, -15, layout.far, layout.near), _textured(rng, dark=True)
    )
    scale = max(1.0, layout.unit / 480)  # dots stay "small" at any resolution
    for _ in range(12):
        angle, radius = rng.uniform(0, 2 * math.pi), np.sqrt(rng.uniform(0, 0.8))
        spot = (
            body_centre[0] + radius * body_axes[0] * math.cos(angle),
            body_centre[1] + radius * body_axes[1] * math.sin(angle),
        )
        _sparkle_dot(canvas, layout, spot, rng.uniform(1.0, 3.0) * scale, rng.uniform(0.3, 1.0))
    arc = ellipse_points(body_centre, (body_axes[0] * 0.93, body_axes[1] * 0.93), -15, 72)[40:58]
    _sparkle_line(canvas, layout, arc, EDGE_GLINT_WEIGHT)
    return canvas, background_mm


def _bench(layout: Layout, rng: np.random.Generator) -> tuple[Canvas, float | None]:
    """An insect on a leaf: domes, occluding parts, thin legs and antennae, shiny eyes."""
    unit, background_mm = layout.unit, layout.background_mm
    canvas = Canvas(layout.size, smooth_background(layout.size, rng), background_mm)
    leaf = ellipse_points(layout.at(0.5, 0.62), (0.44 * layout.size[0], 0.26 * layout.size[1]), -12)
    leaf_slope = (0.0, -(layout.far - layout.near) * 0.2 / (0.26 * layout.size[1]))
    canvas.paint(tilted_polygon(leaf, layout.mm(0.78), leaf_slope), _textured(rng))
    body_centre, heading = layout.at(0.56, 0.55), math.radians(-10)
    forward = np.array([-math.cos(heading), -math.sin(heading)])
    for index in range(6):  # legs: behind the body, resting on the leaf
        side = 1 if index % 2 else -1
        root = np.array(body_centre) + forward * (index // 2 - 1) * 0.12 * unit
        knee = root + np.array([rng.uniform(-0.05, 0.05), side * 0.22]) * unit
        foot = knee + np.array([rng.uniform(-0.08, 0.08), side * 0.08]) * unit
        leg = np.stack([root, knee, foot])
        canvas.paint(
            stroke(leg, 0.012 * unit, _depths(layout, 0.4, 0.55, 3)), _textured(rng, detail=0.5)
        )
    body_axes = (0.30 * unit, 0.17 * unit)
    canvas.paint(
        dome(body_centre, body_axes, math.degrees(heading), layout.mm(0.65), layout.mm(0.3)),
        _textured(rng),
    )
    head_centre = tuple(np.array(body_centre) + forward * 0.33 * unit)
    canvas.paint(
        dome(head_centre, (0.11 * unit, 0.1 * unit), 0, layout.mm(0.4), layout.mm(0.15)),
        _textured(rng),
    )
    for side in (-1, 1):
        eye = tuple(np.array(head_centre) + forward * 0.04 * unit + (0, side * 0.07 * unit))
        canvas.paint(
            dome(eye, (0.035 * unit, 0.035 * unit), 0, layout.mm(0.15), layout.near),
            _textured(rng, dark=True),
        )
        _sparkle_dot(canvas, layout, (eye[0] - 0.01 * unit, eye[1] - 0.01 * unit), 0.006 * unit)
        tip = np.array(head_centre) + forward * 0.45 * unit + (0, side * 0.25 * unit)
        antenna = np.stack(
            [head_centre, (np.array(head_centre) + tip) / 2 + (0, side * 0.03 * unit), tip]
        )
        canvas.paint(
            stroke(antenna, max(1.5, 0.004 * unit), _depths(layout, 0.2, 0.03, 3)),
            _textured(rng, detail=0.4),
        )
    for _ in range(3):
        offset = rng.uniform(-0.5, 0.5, 2) * body_axes
        _sparkle_dot(canvas, layout, tuple(np.array(body_centre) + offset), 0.004 * unit)
    grass = np.stack([layout.at(0.9, 1.02), layout.at(0.86, 0.6), layout.at(0.88, 0.2)])
    canvas.paint(
        stroke(grass, 0.01 * unit, _depths(layout, 1.0, 0.25, 3)), _textured(rng, detail=0.5)
    )
    return canvas, background_mm


def _depths(layout: Layout, first: float, last: float, count: int) -> NDArray[np.float64]:
    return np.array([layout.mm(f) for f in np.linspace(first, last, count)])


def _sparkle_dot(
    canvas: Canvas,
    layout: Layout,
    centre: tuple[float, float],
    radius: float,
    weight: float = 1.0,
) -> None:
    radius = max(radius, 1.0)
    spot = dome(centre, (radius, radius), 0, layout.far, layout.far)
    canvas.sparkle(spot, weight, max_depth_mm=layout.far)  # never on the background


def _sparkle_line(
    canvas: Canvas, layout: Layout, points: NDArray[np.float64], weight: float
) -> None:
    line = stroke(points, max(1.0, 0.003 * layout.unit), np.full(len(points), layout.far))
    canvas.sparkle(line, weight, max_depth_mm=layout.far)


Builder = Callable[[Layout, np.random.Generator], tuple[Canvas, float | None]]
BUILDERS: dict[str, Builder] = {
    "planes": _planes,
    "dome": _dome,
    "layers": _layers,
    "stalk": _stalk,
    "highlights": _highlights,
    "bench": _bench,
}
