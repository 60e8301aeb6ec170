"""Layered defocus: image a scene through a lens focused at one position.

The scene is sliced into depth layers thin enough that the blur radius hardly changes
within one.  Each layer's premultiplied colour and coverage (alpha) are blurred with that
layer's disc kernel and composited back to front with the "over" operator, so a defocused
foreground edge spreads over what lies behind it, as with a real lens.  Under each slice's
own pixels, what lies behind is completed first (:func:`rig.sim.render.layers.composite`): slices
of one surface then meet without seams, and a defocused occluder's soft edge shows a guess
of the background the depth map hides instead of keeping a hard silhouette.

Everything happens in linear light, so bright highlights make bright bokeh discs.  Each
slice is blurred only over small boxes around its pixels, and large blurs are computed on
a reduced copy: a disc wider than a few pixels removes the detail the reduction loses.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.depth_index import DepthIndex, depth_index
from rig.sim.render.layers import (
    Blur,
    Pending,
    ReducedImage,
    Slice,
    composite,
    overwrite,
    reduced_reach_px,
)
from rig.sim.render.optics import POINT_RADIUS_PX, Optics, disc_kernel, kernel_half_width
from rig.sim.render.radiance import scene_radiance
from rig.sim.render.scene import Scene
from rig.sim.render.slice_cover import (
    CELL_PX,
    MIN_STRIP_PX,
    bounds,
    cells_of,
    cheapest_cover,
    grown,
    rectangles,
)

FloatImage = NDArray[np.float32]

# Slice thickness, as a change of blur radius: at least this many px ...
SLICE_MIN_STEP_PX = 1.0
# ... or this fraction of the radius, whichever is larger.  (Within a slice each pixel
# still gets its own radius, interpolated between two discs: see layers.Blur.)
SLICE_RELATIVE_STEP = 0.3
# A slice whose radius varies less than this fraction is blurred with one disc.
SINGLE_KERNEL_MAX_SPREAD = 0.03
# Discs up to this radius are applied at full resolution (filter cost grows with the kernel
# area, and OpenCV switches to a slower DFT above 11×11) ...
FULL_RES_MAX_RADIUS_PX = 3.5
# ... larger ones on a copy reduced by the smallest power of two (at least 2) that brings
# the radius under this (an 11×11 kernel: the disc's edge stays within ~10 % of its radius)
REDUCED_MAX_RADIUS_PX = 5.0
# ... or under this for slices with specular highlights, whose bokeh discs show their
# shape and bright rim (a slower, DFT-sized kernel).
BOKEH_MAX_RADIUS_PX = 12.0
# The guess of what an occluder hides is only a colour: coarse is fine.
SURROUNDINGS_MAX_RADIUS_PX = 4.0
# Below this blur radius, an occluder's soft edge is too narrow to need a guess of what is
# hidden behind it.
FILL_BEHIND_MIN_RADIUS_PX = 2.0


def defocus(scene: Scene, focus_mm: float, optics: Optics, exposure: float = 1.0) -> FloatImage:
    """Linear-light image (H×W×3 float32, 1.0 = full scale, may exceed 1 at highlights)
    of ``scene`` with the lens focused at ``focus_mm``, in scene pixel geometry, times
    ``exposure``."""
    index = depth_index(scene)
    radiance = scene_radiance(scene, optics.gamma)
    accumulated = np.zeros_like(radiance)  # premultiplied RGB + alpha
    runs = index.runs(_slice_edges_mm(index, focus_mm, optics))
    for number, run in enumerate(reversed(runs)):  # far to near
        levels = index.level_range(*run)
        radii = (
            optics.blur_radius_px(index.depth_at(levels[0]), focus_mm),
            optics.blur_radius_px(index.depth_at(levels[1]), focus_mm),
        )
        over = number > 0  # the farthest slice has nothing behind it
        _composite_slice(accumulated, radiance, index, run, radii, optics.bokeh_rim, over)
    # (Strided channel views are slow to pass to OpenCV; extract channels instead.)
    alpha = cv2.extractChannel(accumulated, 3)
    scale = np.float32(exposure) / np.maximum(alpha, np.float32(1e-6))
    colour = cv2.cvtColor(accumulated, cv2.COLOR_RGBA2RGB)
    return np.asarray(cv2.multiply(colour, cv2.merge([scale] * 3)), np.float32)


def _slice_edges_mm(index: DepthIndex, focus_mm: float, optics: Optics) -> NDArray[np.float64]:
    """Depth edges between slices.  The slice around the focus holds every pixel whose disc
    is a point; beyond it, the blur radius changes by a fixed step or fraction per slice."""
    nearest, farthest = index.depth_span()
    reach_mm = max(abs(nearest - focus_mm), abs(farthest - focus_mm))
    reach_px = optics.blur_radius_px(focus_mm + reach_mm, focus_mm)
    radii = [POINT_RADIUS_PX]
    while radii[-1] < reach_px:
        radii.append(radii[-1] + max(SLICE_MIN_STEP_PX, SLICE_RELATIVE_STEP * radii[-1]))
    defocus_px = np.asarray(radii) - optics.min_blur_px  # radius = min blur + defocus
    if optics.blur_px_per_mm <= 0:
        return np.zeros(0)
    offsets_mm = defocus_px[defocus_px > 0] / optics.blur_px_per_mm
    return np.concatenate([focus_mm - offsets_mm[::-1], focus_mm + offsets_mm])


def _composite_slice(
    accumulated: FloatImage,
    radiance: FloatImage,
    index: DepthIndex,
    run: tuple[int, int],
    radii: tuple[float, float],
    rim: float,
    over: bool,
) -> None:
    """Blur one depth slice (a ``run`` of the index; ``radii``: blur radius at its two
    depth ends) and composite it over ``accumulated`` (or just write it there if
    ``over`` is false).

    Work is done only where the slice reaches, as disjoint rectangles, so a thin ring of a
    dome costs about its own area rather than the dome's."""
    levels = index.level_range(*run)
    slice_ = Slice(radiance, index.level_map, levels)
    image_size = (accumulated.shape[1], accumulated.shape[0])
    occupied = index.occupied_cells(*run)
    radius = max(radii)
    half = kernel_half_width(radius)
    if half == 0:
        for box in rectangles(occupied, (CELL_PX, CELL_PX), image_size):
            slice_.paint_sharp(accumulated, box)
        return
    bokeh = index.has_highlights(*run)
    reduction = _reduction(radius, BOKEH_MAX_RADIUS_PX if bokeh else REDUCED_MAX_RADIUS_PX)
    reach = half if reduction == 1 else reduced_reach_px(radius, reduction)
    cover = cheapest_cover(occupied, reach, image_size)
    footprint = cover.footprint
    blur = _blur(levels, radii, reduction, rim)
    if reduction == 1:
        pieces = [slice_.blurred(grown(box, half, image_size), box, blur) for box in footprint]
        blurred, own = [piece[0] for piece in pieces], [piece[1] for piece in pieces]
    else:
        # Larger tiles for larger reductions: each costs a few calls per halving.
        tiles = cover.occupied_boxes(max(reduction, MIN_STRIP_PX))
        reduced = slice_.reduced_blur(tiles, bounds(footprint), reduction, blur)
        blurred = [reduced.expanded(box) for box in footprint]
        own = [slice_.mask(box) for box in footprint] if over else []
    if not over:
        for box, layer in zip(footprint, blurred, strict=True):
            overwrite(accumulated, box, layer)
        return
    pending = [
        Pending.of(accumulated, *piece) for piece in zip(footprint, blurred, own, strict=True)
    ]
    behind = _surroundings(accumulated, pending, radius)
    for item in pending:
        around = behind.expanded(item.box) if behind and item.reveals_hidden else None
        composite(accumulated, item, around)


def _surroundings(
    accumulated: FloatImage, pending: list[Pending], radius: float
) -> ReducedImage | None:
    """Where a wide blur reveals what the depth map hides, a guess of it: everything
    composited so far, blurred like this slice (see :func:`composite`)."""
    if radius < FILL_BEHIND_MIN_RADIUS_PX:
        return None
    revealing = [item.box for item in pending if item.reveals_hidden]
    if not revealing:
        return None
    reduction = max(_reduction(radius, SURROUNDINGS_MAX_RADIUS_PX), 2)
    image_size = (accumulated.shape[1], accumulated.shape[0])
    # Only what lies within the blur's reach of those boxes can show in them.
    reach = reduced_reach_px(radius, reduction)
    around = cheapest_cover(cells_of(revealing, image_size), reach, image_size).footprint
    kernel = disc_kernel(_reduced_disc_radius(radius, reduction))
    return ReducedImage.blurred_from(accumulated, around, reduction, kernel)


def _blur(levels: tuple[int, int], radii: tuple[float, float], reduction: int, rim: float) -> Blur:
    """Disc kernels (at 1/``reduction`` resolution) for a slice whose blur radius goes
    from ``radii[0]`` to ``radii[1]`` across its depth ``levels``."""
    if abs(radii[1] - radii[0]) < SINGLE_KERNEL_MAX_SPREAD * max(radii):
        radius = sum(radii) / 2
        kernel = disc_kernel(_reduced_disc_radius(radius, reduction), rim)
        return Blur(levels, (radius / reduction,) * 2, (kernel,))
    # The shares between the two discs depend only on differences of squared radii, which
    # the reduced discs keep.
    scaled = (radii[0] / reduction, radii[1] / reduction)
    kernels = tuple(disc_kernel(_reduced_disc_radius(radius, reduction), rim) for radius in radii)
    return Blur(levels, scaled, kernels)


def _reduced_disc_radius(radius: float, reduction: int) -> float:
    """The disc radius (reduced pixels) that, blurred further by reducing and expanding,
    spreads light as much (as a variance) as a disc of ``radius`` at full resolution.

    Per axis, reducing and expanding each add a variance of (s² - 1) / 6 px², and a
    reduced kernel pixel (s² - 1) / 12 more than a full-resolution one; a disc's
    variance is radius² / 4."""
    if reduction == 1:
        return radius
    added = 5 * (reduction**2 - 1) / 3  # 4 × the added variance
    return math.sqrt(max(radius**2 - added, 0.0)) / reduction


def _reduction(radius: float, reduced_max_radius: float) -> int:
    """Resolution reduction (a power of two) at which to blur with a disc of ``radius``."""
    if radius <= FULL_RES_MAX_RADIUS_PX:
        return 1
    return int(2 ** max(1, math.ceil(math.log2(radius / reduced_max_radius))))
