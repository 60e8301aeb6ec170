"""Image operations on one depth slice, box by box: masking, blurring, compositing.

Images here are H×W×4 float32: linear RGB premultiplied by coverage, plus coverage
(alpha).  Boxes are pixel rectangles ``(x0, y0, x1, y1)``; blurs of a box read a window
around it, so results never depend on how the image was cut into boxes.  Beyond the
image edge, full-resolution blurs see the image mirrored (``BORDER_REFLECT``); reduced
ones average what lies inside the image (the blur divided by the share of its disc that
falls inside), which also keeps a flat image flat up to its edge.

Large blurs run on a reduced copy whose pixel ``i`` sits on full pixel
``reduction * i``.  Reducing shares each pixel's light between the two nearest reduced
pixels in proportion to closeness (in both directions), so a point keeps its centroid;
averaging blocks instead would move it to its block's centre.  Expanding interpolates
linearly between reduced pixels, symmetric about each.  With a symmetric disc between
the two, a blurred point stays centred on the point.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.optics import kernel_half_width
from rig.sim.render.slice_cover import Box, Size, bounds

FloatImage = NDArray[np.float32]
Kernel = NDArray[np.float32]
_Pixel = TypeVar("_Pixel", np.float32, np.uint8)
# Below this coverage, the surroundings say too little about what lies behind.
_MIN_BEHIND_COVERAGE = 0.002
# How much the blurred surroundings count against a pixel's own partial coverage.
_SURROUNDINGS_WEIGHT = 0.05
# A layer this transparent at one of its own pixels shows what is behind it.
_SOFT_EDGE_TRANSPARENCY = 0.01
# Reducing shares a pixel's light with the reduced pixels less than this many reduced
# pixels away, and expanding spreads a reduced pixel's light as far.
_RESAMPLING_REACH = 1
# Halving keeps the even pixels of the image filtered with this: an odd pixel's light is
# shared equally by its even neighbours.  Halvings compose into sharing between the two
# nearest reduced pixels at any power of two.
_HALVING_KERNEL = np.array([0.25, 0.5, 0.25], np.float32)
# warpAffine interpolates at 1/32 pixel steps: exact for expansions up to this factor.
_MAX_EXACT_WARP = 32
# Reduced pixels beyond the image edge that a blur reaches only this little from inside
# are left dark (no full-resolution pixel expands from them).
_MIN_IMAGE_SHARE = 1e-3


@dataclass(frozen=True)
class Blur:
    """How a slice is blurred.  Its pixels' blur radius goes from ``radii[0]`` at depth
    level ``levels[0]`` to ``radii[1]`` at ``levels[1]`` (linear in depth).  Each pixel's
    light is split between the discs at the two ends, ``kernels``, in proportions that
    give it the blur variance (∝ radius²) of its own radius, so slices can be thick
    without their pixels sharing one radius.  One kernel: the radius hardly varies."""

    levels: tuple[int, int]
    radii: tuple[float, float]
    kernels: tuple[Kernel, ...]

    def second_share(self, level_map: NDArray[np.uint16]) -> FloatImage:
        """Per pixel, the share of its light blurred with the second kernel."""
        (level0, level1), (radius0, radius1) = self.levels, self.radii
        slope = (radius1 - radius0) / max(level1 - level0, 1)
        radius = np.float32(radius0) + np.float32(slope) * (level_map - np.float32(level0))
        first, second = radius0**2, radius1**2
        return np.clip((radius * radius - first) / (second - first), 0, 1, dtype=np.float32)


@dataclass(frozen=True)
class Slice:
    """The scene pixels whose quantised depth is within ``levels`` (inclusive)."""

    radiance: FloatImage  # the whole scene, linear RGB with alpha 1
    level_map: NDArray[np.uint16]
    levels: tuple[int, int]

    def mask(self, box: Box) -> NDArray[np.uint8]:
        x0, y0, x1, y1 = box
        return np.asarray(cv2.inRange(self.level_map[y0:y1, x0:x1], *self.levels), np.uint8)

    def layer(self, box: Box, mask: NDArray[np.uint8] | None = None) -> FloatImage:
        """Premultiplied layer over ``box``: the radiance where the slice is, else zero."""
        x0, y0, x1, y1 = box
        source = self.radiance[y0:y1, x0:x1]
        mask = self.mask(box) if mask is None else mask
        return np.asarray(cv2.bitwise_and(source, source, mask=mask), np.float32)

    def paint_sharp(self, accumulated: FloatImage, box: Box) -> None:
        """In focus: the slice's opaque pixels simply cover what is behind them."""
        x0, y0, x1, y1 = box
        cv2.copyTo(self.radiance[y0:y1, x0:x1], self.mask(box), accumulated[y0:y1, x0:x1])

    def blurred(self, window: Box, box: Box, blur: Blur) -> tuple[FloatImage, NDArray[np.uint8]]:
        """The layer blurred at full resolution over ``box``, and the slice's mask there;
        ``window`` is ``box`` plus the kernel's reach (clipped to the image, which is
        mirrored beyond its edge)."""
        mask = self.mask(window)
        blurred = _filter_sum(self._shares(window, blur, mask), blur.kernels)
        return _crop(blurred, window, box), _crop(mask, window, box)

    def reduced_blur(
        self, occupied: list[Box], area: Box, reduction: int, blur: Blur
    ) -> ReducedImage:
        """The layer reduced by ``reduction`` box by box (only the ``occupied`` boxes hold
        slice pixels), then blurred (``blur`` kernels are for the reduced resolution);
        it can be expanded anywhere in ``area``."""
        half = max(kernel.shape[0] for kernel in blur.kernels) // 2
        # Expanding ``area`` reads reduced pixels this far out; their blur reads further.
        grid = _Grid.around(area, reduction, reduction * (half + _RESAMPLING_REACH))
        image_size = (self.level_map.shape[1], self.level_map.shape[0])
        smalls = [grid.zeros() for _ in blur.kernels]
        for box in occupied:
            for small, share in zip(smalls, self._shares(box, blur), strict=True):
                grid.add_reduced(small, share, box)
        blurred = [
            grid.blurred_within(small, kernel, image_size)
            for small, kernel in zip(smalls, blur.kernels, strict=True)
        ]
        total = blurred[0] if len(blurred) == 1 else cv2.add(blurred[0], blurred[1])
        return ReducedImage(np.asarray(total, np.float32), grid.origin, reduction)

    def _shares(
        self, box: Box, blur: Blur, mask: NDArray[np.uint8] | None = None
    ) -> list[FloatImage]:
        """The layer, split between the blur's kernels."""
        layer = self.layer(box, mask)
        if len(blur.kernels) == 1:
            return [layer]
        x0, y0, x1, y1 = box
        second = cv2.multiply(layer, _four(blur.second_share(self.level_map[y0:y1, x0:x1])))
        return [np.asarray(cv2.subtract(layer, second), np.float32), np.asarray(second, np.float32)]


@dataclass(frozen=True)
class ReducedImage:
    """An image at 1/``reduction`` resolution: ``small[i, j]`` is the value at
    full-resolution pixel ``origin + reduction * (j, i)``."""

    small: FloatImage
    origin: tuple[int, int]  # multiples of ``reduction``
    reduction: int

    @classmethod
    def blurred_from(
        cls, image: FloatImage, area: Box | list[Box], reduction: int, kernel: Kernel
    ) -> ReducedImage:
        """``image`` over ``area`` (a box, or disjoint boxes; zero around it), reduced
        and blurred; it can be expanded anywhere in ``area``."""
        boxes = area if isinstance(area, list) else [area]
        # Every reduced pixel the area's light reaches, and that the blur reads.
        margin = reduction * (kernel.shape[0] // 2 + _RESAMPLING_REACH)
        grid = _Grid.around(bounds(boxes), reduction, margin)
        small = grid.zeros()
        for x0, y0, x1, y1 in boxes:
            grid.add_reduced(small, image[y0:y1, x0:x1], (x0, y0, x1, y1))
        blurred = grid.blurred_within(small, kernel, (image.shape[1], image.shape[0]))
        return cls(blurred, grid.origin, reduction)

    def expanded(self, box: Box) -> FloatImage:
        """Full-resolution values over ``box``, linearly interpolated."""
        s, (x_origin, y_origin), (rows, cols) = self.reduction, self.origin, self.small.shape[:2]
        if not (x_origin <= box[0] and box[2] <= x_origin + (cols - 1) * s + 1):
            raise ValueError(f"{box} reaches beyond the reduced image")
        if not (y_origin <= box[1] and box[3] <= y_origin + (rows - 1) * s + 1):
            raise ValueError(f"{box} reaches beyond the reduced image")
        if self.reduction > _MAX_EXACT_WARP:
            return self._partly_expanded(box).expanded(box)
        return self._sampled(box[:2], 1, (box[2] - box[0], box[3] - box[1]))

    def _partly_expanded(self, box: Box) -> ReducedImage:
        """The values at every ``_MAX_EXACT_WARP``-th pixel around ``box``: linear
        interpolation at those pixels, then between them, is linear interpolation."""
        step = _MAX_EXACT_WARP
        left, top = box[0] // step, box[1] // step
        right, bottom = -(-box[2] // step) + 1, -(-box[3] // step) + 1
        small = self._sampled((left * step, top * step), step, (right - left, bottom - top))
        return ReducedImage(small, (left * step, top * step), step)

    def _sampled(self, start: tuple[int, int], step: int, size: tuple[int, int]) -> FloatImage:
        """Linearly interpolated values at ``size`` (w, h) full-resolution pixels from
        ``start``, every ``step`` pixels (``reduction / step`` at most 32)."""
        s, (x_origin, y_origin) = self.reduction, self.origin
        # For each output pixel, the position in ``small`` (reduced pixels) to read.
        to_small = np.array(
            [[step / s, 0.0, (start[0] - x_origin) / s], [0.0, step / s, (start[1] - y_origin) / s]]
        )
        warped = cv2.warpAffine(
            self.small,
            to_small,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
        )
        return np.asarray(warped, np.float32)


@dataclass(frozen=True)
class _Grid:
    """Where a reduced image's pixels sit: ``(i, j)`` on full-resolution pixel
    ``origin + reduction * (j, i)``."""

    origin: tuple[int, int]
    shape: tuple[int, int]  # rows, columns
    reduction: int

    @classmethod
    def around(cls, box: Box, reduction: int, margin: int) -> _Grid:
        """The reduced pixels over ``box`` grown by ``margin`` (maybe beyond the image)."""
        s = reduction
        left, top = (box[0] - margin) // s, (box[1] - margin) // s
        right, bottom = -(-(box[2] - 1 + margin) // s) + 1, -(-(box[3] - 1 + margin) // s) + 1
        return cls((left * s, top * s), (bottom - top, right - left), s)

    def zeros(self) -> FloatImage:
        return np.zeros((*self.shape, 4), np.float32)

    def add_reduced(self, small: FloatImage, pixels: FloatImage, box: Box) -> None:
        """Add to ``small`` the image that is ``pixels`` over ``box`` and zero elsewhere,
        reduced (reducing is linear: boxes reduced one by one add up to the whole)."""
        s, (x_origin, y_origin) = self.reduction, self.origin
        reduced, (node_x, node_y) = _reduce(pixels, (box[0], box[1]), s)
        _add_at(small, reduced, (node_x - x_origin // s, node_y - y_origin // s))

    def blurred_within(self, small: FloatImage, kernel: Kernel, image_size: Size) -> FloatImage:
        """``small`` (an image reduced with zero beyond the image edge) blurred with
        ``kernel``, then, near the edge, divided by the share of the blur that came from
        inside the image: the same blur of the reduced image-sized ones."""
        blurred = _filter(small, kernel, cv2.BORDER_CONSTANT)
        inside = self._image_coverage(image_size)
        if inside is None:
            return blurred
        share = cv2.filter2D(inside, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        scale = np.where(share > _MIN_IMAGE_SHARE, 1 / np.maximum(share, _MIN_IMAGE_SHARE), 0)
        for rows, cols in self._edge_bands(image_size, kernel.shape[0] // 2):
            view = blurred[rows, cols]
            if view.size:
                cv2.multiply(view, _four(scale[rows, cols]), dst=view)
        return blurred

    def _edge_bands(self, image_size: Size, half: int) -> list[tuple[slice, slice]]:
        """The parts of the grid where a blur reaching ``half`` reduced pixels gathers
        light from beyond the image edge: top, bottom, left, right."""
        (left, right), (top, bottom) = (
            self._inner_span(origin, count, length, half)
            for origin, count, length in (
                (self.origin[0], self.shape[1], image_size[0]),
                (self.origin[1], self.shape[0], image_size[1]),
            )
        )
        middle = slice(top, bottom)
        return [
            (slice(0, top), slice(None)),
            (slice(bottom, None), slice(None)),
            (middle, slice(0, left)),
            (middle, slice(right, None)),
        ]

    def _inner_span(self, origin: int, count: int, length: int, half: int) -> tuple[int, int]:
        """Along one axis, the grid indices whose blur gathers only from reduced pixels
        that gather only from inside the image."""
        s, first = self.reduction, origin // self.reduction
        # Reduced pixel n gathers from full pixels s * n - (s - 1) to s * n + (s - 1).
        low, high = 1 + half, (length - s) // s - half
        start = min(max(low - first, 0), count)
        return start, max(min(high - first + 1, count), start)

    def _image_coverage(self, image_size: Size) -> FloatImage | None:
        """An image of ones over the image and zeros beyond, reduced onto the grid (None
        if the grid lies inside the image, where it is all ones)."""
        s, (x_origin, y_origin), (rows, cols) = self.reduction, self.origin, self.shape
        width, height = image_size
        # A reduced pixel gathers light from less than ``s`` full pixels away.
        if 0 < x_origin <= width - cols * s and 0 < y_origin <= height - rows * s:
            return None
        # Reducing is separable: the reduced ones are a product of reduced lines of ones.
        across = _reduced_line(width, x_origin // s, cols, s)
        down = _reduced_line(height, y_origin // s, rows, s)
        return np.outer(down, across).astype(np.float32)


def _reduced_line(length: int, first: int, count: int, reduction: int) -> FloatImage:
    """A line of ``length`` ones (zero beyond) reduced, at reduced pixels ``first`` on."""
    reduced, (start, _) = _reduce(np.ones((1, length), np.float32), (0, 0), reduction)
    line = np.zeros(count, np.float32)
    # (The single row loses half of itself to each vertical halving.)
    values = reduced[0] * np.float32(reduction)
    lo, hi = max(start, first), min(start + values.size, first + count)
    if hi > lo:
        line[lo - first : hi - first] = values[lo - start : hi - start]
    return line


def _reduce(
    image: FloatImage, origin: tuple[int, int], reduction: int
) -> tuple[FloatImage, tuple[int, int]]:
    """``image`` (its top-left pixel on full-resolution pixel ``origin``, zero around it)
    reduced by ``reduction``, halving at a time, and the reduced position of the result's
    top-left pixel."""
    # Zeros out to the reduced pixels on either side: every halving then starts and ends
    # on an even pixel, which keeps the light of the odd pixels next to it.
    (x, y), (width, height) = origin, (image.shape[1], image.shape[0])
    left, top = x % reduction, y % reduction
    right, bottom = -(x + width - 1) % reduction, -(y + height - 1) % reduction
    if left or top or right or bottom:
        image = np.asarray(
            cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT), np.float32
        )
    for _ in range(reduction.bit_length() - 1):
        shared = cv2.sepFilter2D(
            image, -1, _HALVING_KERNEL, _HALVING_KERNEL, borderType=cv2.BORDER_CONSTANT
        )
        image = np.ascontiguousarray(shared[::2, ::2], np.float32)
    return image, ((x - left) // reduction, (y - top) // reduction)


def _add_at(target: FloatImage, patch: FloatImage, offset: tuple[int, int]) -> None:
    """Add ``patch`` to ``target`` with its top-left pixel at ``offset`` (x, y), dropping
    what falls outside."""
    x, y = offset
    rows, cols = target.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + patch.shape[1], cols), min(y + patch.shape[0], rows)
    if x1 > x0 and y1 > y0:
        view = target[y0:y1, x0:x1]
        view += patch[y0 - y : y1 - y, x0 - x : x1 - x]


@dataclass(frozen=True)
class Pending:
    """A slice's blurred ``layer`` over ``box``, about to be composited, with what the
    compositing needs from the accumulated image as it is before this slice."""

    box: Box
    layer: FloatImage
    own: NDArray[np.bool_]  # the slice's own pixels
    transparency: FloatImage  # 1 - layer alpha
    coverage: FloatImage  # alpha accumulated so far

    @classmethod
    def of(
        cls, accumulated: FloatImage, box: Box, layer: FloatImage, own: NDArray[np.uint8]
    ) -> Pending:
        x0, y0, x1, y1 = box
        transparency = np.float32(1.0) - cv2.extractChannel(layer, 3)
        coverage = cv2.extractChannel(accumulated[y0:y1, x0:x1], 3)
        return cls(box, layer, own > 0, np.asarray(transparency), np.asarray(coverage))

    @functools.cached_property
    def reveals_hidden(self) -> bool:
        """Does the layer's soft edge show pixels with nothing known behind them (the
        slice occludes something the depth map cannot show)?"""
        soft = self.transparency > _SOFT_EDGE_TRANSPARENCY
        return bool(np.any(self.own & soft & (self.coverage < _MIN_BEHIND_COVERAGE)))


def reduced_reach_px(radius: float, reduction: int) -> int:
    """How far a blur of ``radius`` computed at 1/``reduction`` resolution spreads a
    pixel's light: the disc, widened by reducing and by expanding."""
    reduced_px = kernel_half_width(radius / reduction) + 2 * _RESAMPLING_REACH
    return reduction * reduced_px


def composite(accumulated: FloatImage, pending: Pending, surroundings: FloatImage | None) -> None:
    """Composite a slice's blurred layer over ``accumulated``:
    ``accumulated = layer + (1 - layer alpha) * behind``.

    ``behind`` is ``accumulated`` completed under the slice's own pixels, where what lies
    behind them is only partly known.  Where something partly covers them (the next
    slice of the same surface) it is that, at full coverage; where nothing does (behind an
    occluder: a depth map does not say what is there), the best guess is the blurred
    ``surroundings``, which count only a little elsewhere.  Without this, slices of one
    surface would meet at visible seams and a defocused occluder would keep a hard
    silhouette instead of a soft edge showing the background through it."""
    x0, y0, x1, y1 = pending.box
    target = accumulated[y0:y1, x0:x1]
    transparency, coverage = pending.transparency, pending.coverage
    if surroundings is None:  # scale up the partial coverage there is
        usable = pending.own & (coverage > _MIN_BEHIND_COVERAGE)
        scale = np.where(usable, transparency / np.maximum(coverage, 1e-6), transparency)
        cv2.multiply(target, _four(scale), dst=target)
    else:
        colour_sum = cv2.scaleAdd(surroundings, _SURROUNDINGS_WEIGHT, target)
        weight_sum = cv2.extractChannel(colour_sum, 3)
        usable = pending.own & (weight_sum > _MIN_BEHIND_COVERAGE)
        # How much of the hole to fill: all of it where the layer's transparency is matched
        # by coverage behind or around it (a seam, or an occluder's edge over background);
        # little where nothing farther is near (the edge faces nearer slices yet to come).
        around = cv2.extractChannel(surroundings, 3)
        extent = np.minimum((coverage + around) / np.maximum(transparency, 1e-6), 1)
        fill = np.where(usable, (1 - coverage) * extent / np.maximum(weight_sum, 1e-6), 0)
        cv2.multiply(target, _four(transparency), dst=target)
        cv2.add(target, cv2.multiply(colour_sum, _four(fill * transparency)), dst=target)
    cv2.add(target, pending.layer, dst=target)


def overwrite(accumulated: FloatImage, box: Box, layer: FloatImage) -> None:
    """Write ``layer`` into ``accumulated`` within ``box`` (nothing is behind it yet)."""
    x0, y0, x1, y1 = box
    accumulated[y0:y1, x0:x1] = layer


def _four(channel: NDArray[np.floating]) -> FloatImage:
    """One channel repeated ×4, to scale RGBA (OpenCV is much faster than numpy
    broadcasting for this)."""
    single = channel.astype(np.float32, copy=False)
    return np.asarray(cv2.merge([single] * 4), np.float32)


def _filter(image: FloatImage, kernel: Kernel, border: int = cv2.BORDER_REFLECT) -> FloatImage:
    if kernel.size == 1:
        return image
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=border), np.float32)


def _filter_sum(images: list[FloatImage], kernels: tuple[Kernel, ...]) -> FloatImage:
    """Each image blurred with its kernel, summed."""
    total = _filter(images[0], kernels[0])
    for image, kernel in zip(images[1:], kernels[1:], strict=True):
        total = np.asarray(cv2.add(total, _filter(image, kernel)), np.float32)
    return total


def _crop(image: NDArray[_Pixel], frame: Box, box: Box) -> NDArray[_Pixel]:
    """The part of ``image`` (whose top-left pixel is at ``frame[:2]``) covering ``box``."""
    x0, y0 = box[0] - frame[0], box[1] - frame[1]
    return image[y0 : y0 + box[3] - box[1], x0 : x0 + box[2] - box[0]]
