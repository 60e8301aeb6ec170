"""Geometry primitives for building scenes, and a z-buffered canvas to paint them on.

A primitive is a :class:`Patch`: a mask and a depth map (focus-position mm) over its own
bounding box, so building a 12 MP scene only touches the pixels each object covers.
Smaller depth means nearer the camera; :meth:`Canvas.paint` keeps the nearest surface,
which gives hard occlusion edges where objects overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.texture import FloatImage, Size

Point = tuple[float, float]
TextureMaker = Callable[[Size], FloatImage]


@dataclass(frozen=True)
class Patch:
    """An object's footprint: ``mask`` and ``depth`` (mm) over the box at ``(left, top)``."""

    left: int
    top: int
    mask: NDArray[np.bool_]
    depth: NDArray[np.float32]

    @property
    def size(self) -> Size:
        return (self.mask.shape[1], self.mask.shape[0])


def dome(centre: Point, axes: Point, angle_deg: float, rim_mm: float, apex_mm: float) -> Patch:
    """An ellipsoidal cap: depth ``rim_mm`` at the elliptical outline rising to ``apex_mm``."""
    left, top, xs, ys = _local_grid(centre, max(axes))
    u, v = _rotate(xs - centre[0], ys - centre[1], angle_deg)
    radial = (u / axes[0]) ** 2 + (v / axes[1]) ** 2
    height = np.sqrt(np.clip(1.0 - radial, 0.0, 1.0))
    depth = (rim_mm + (apex_mm - rim_mm) * height).astype(np.float32)
    return Patch(left, top, radial < 1.0, depth)


def tilted_polygon(
    points: NDArray[np.float64], centre_mm: float, slope_mm_per_px: Point = (0.0, 0.0)
) -> Patch:
    """A flat polygon, optionally tilted: depth ``centre_mm`` at its centroid plus a gradient."""
    left, top = np.floor(points.min(axis=0)).astype(int)
    right, bottom = np.ceil(points.max(axis=0)).astype(int) + 1
    mask = np.zeros((bottom - top, right - left), np.uint8)
    cv2.fillPoly(mask, [np.round(points - (left, top)).astype(np.int32)], 1)
    centroid = points.mean(axis=0)
    xs = np.arange(left, right, dtype=np.float32) - np.float32(centroid[0])
    ys = np.arange(top, bottom, dtype=np.float32) - np.float32(centroid[1])
    gx, gy = (np.float32(g) for g in slope_mm_per_px)
    depth = np.float32(centre_mm) + gy * ys[:, None] + gx * xs[None, :]
    return Patch(int(left), int(top), mask.astype(bool), depth.astype(np.float32))


def ellipse_points(
    centre: Point, axes: Point, angle_deg: float, count: int = 72
) -> NDArray[np.float64]:
    """Vertices of an ellipse outline, for :func:`tilted_polygon`."""
    theta = np.linspace(0, 2 * math.pi, count, endpoint=False)
    u, v = axes[0] * np.cos(theta), axes[1] * np.sin(theta)
    x, y = _rotate(u, v, -angle_deg)
    return np.stack([x + centre[0], y + centre[1]], axis=1)


def stroke(path: NDArray[np.float64], width_px: float, depth_mm: NDArray[np.float64]) -> Patch:
    """A thick polyline (stalk, leg, hair) whose depth varies along it.

    ``depth_mm`` gives the depth at each vertex of ``path``; the path is resampled into
    short segments so the depth changes smoothly along the stroke.
    """
    path, depth_mm = _resample(path, depth_mm, spacing=2.0)
    pad = math.ceil(width_px) + 2
    left, top = np.floor(path.min(axis=0)).astype(int) - pad
    right, bottom = np.ceil(path.max(axis=0)).astype(int) + pad
    labels = np.zeros((bottom - top, right - left), np.int32)
    local = np.round((path - (left, top)) * 16).astype(np.int32)  # 4 fractional bits
    thickness = max(1, round(width_px))
    for index in range(len(local) - 1):
        start, end = local[index], local[index + 1]
        cv2.line(labels, tuple(start), tuple(end), index + 1, thickness, cv2.LINE_8, shift=4)
    segment_depth = np.concatenate([[np.inf], (depth_mm[:-1] + depth_mm[1:]) / 2])
    depth = segment_depth[labels].astype(np.float32)
    return Patch(int(left), int(top), labels > 0, depth)


class Canvas:
    """Mutable scene under construction: colour (float DN), depth (mm) and specular weight."""

    def __init__(self, size: Size, background: FloatImage, background_mm: float) -> None:
        width, height = size
        self.size = size
        self.colour = background.astype(np.float32, copy=True)
        self.depth = np.full((height, width), background_mm, np.float32)
        self.specular = np.zeros((height, width), np.uint8)

    def paint(self, patch: Patch, texture: TextureMaker) -> NDArray[np.bool_]:
        """Paint ``patch`` where it is nearer than what is there; returns the written mask
        (in the patch's box, clipped to the canvas) — the visible part of the object."""
        region, local = self._overlap(patch)
        if region is None:
            return np.zeros((0, 0), bool)
        mask = patch.mask[local] & (patch.depth[local] < self.depth[region])
        if mask.any():
            self.depth[region][mask] = patch.depth[local][mask]
            box_height, box_width = mask.shape
            self.colour[region][mask] = texture((box_width, box_height))[mask]
            self.specular[region][mask] = 0  # a new surface hides any glint behind it
        return mask

    def sparkle(self, patch: Patch, weight: float = 1.0, max_depth_mm: float = math.inf) -> None:
        """Make ``patch`` a specular highlight on whatever surface is already there (and no
        deeper than ``max_depth_mm``): full white in colour, plus a radiance boost of
        ``weight`` (see :attr:`rig.sim.render.scene.Scene.specular`)."""
        region, local = self._overlap(patch)
        if region is None:
            return
        mask = patch.mask[local] & (self.depth[region] <= max_depth_mm)
        self.colour[region][mask] = 255.0
        self.specular[region][mask] = np.uint8(round(255 * weight))

    def _overlap(
        self, patch: Patch
    ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | tuple[None, None]:
        width, height = self.size
        box_width, box_height = patch.size
        x0, y0 = max(patch.left, 0), max(patch.top, 0)
        x1, y1 = min(patch.left + box_width, width), min(patch.top + box_height, height)
        if x1 <= x0 or y1 <= y0:
            return None, None
        region = (slice(y0, y1), slice(x0, x1))
        local = (slice(y0 - patch.top, y1 - patch.top), slice(x0 - patch.left, x1 - patch.left))
        return region, local


def _local_grid(centre: Point, radius: float) -> tuple[int, int, FloatImage, FloatImage]:
    left, top = math.floor(centre[0] - radius) - 1, math.floor(centre[1] - radius) - 1
    right, bottom = math.ceil(centre[0] + radius) + 2, math.ceil(centre[1] + radius) + 2
    ys = np.arange(top, bottom, dtype=np.float32)[:, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :]
    return left, top, xs, ys


def _rotate(
    x: NDArray[np.floating], y: NDArray[np.floating], angle_deg: float
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    cos, sin = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return x * cos + y * sin, -x * sin + y * cos


def _resample(
    path: NDArray[np.float64], values: NDArray[np.float64], spacing: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lengths = np.r_[0.0, np.cumsum(np.hypot(*np.diff(path, axis=0).T))]
    samples = np.linspace(0.0, lengths[-1], max(2, int(lengths[-1] / spacing) + 1))
    resampled = np.stack([np.interp(samples, lengths, path[:, i]) for i in range(2)], axis=1)
    return resampled, np.interp(samples, lengths, values)
