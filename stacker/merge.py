"""Fusion state, and the two ways of deciding which frame each part of the image comes from.

The fused image lives as a Laplacian pyramid (luma int16 at every level, chroma from
level 1).  Both methods decide with a *mask* per frame and blend every band with that
mask's Gaussian pyramid — one decision for all scales, so fine and coarse detail of a
spot come from the same frames and transitions are seamless.  Fine levels
(< TILE_LEVELS) are blended tile by tile as frames stream in; the small coarse rest of
the pyramid is blended whole.  Memory is fixed by the image size: nothing per frame.

* :class:`SharpestNeighbourhood` (default, "pyramid"): a frame wins a pixel where the
  finest band's energy in a Gaussian neighbourhood (σ 6 px) is the highest so far.  The
  neighbourhood is the consistency check: isolated noise coefficients cannot win, so flat
  areas are not turned into noise.  Pooling the 4th power (an L4 norm, between a mean and
  a max) lets the few very strong coefficients of an in-focus edge or highlight outweigh
  the wide but weaker rim of the same highlight defocused (the bokeh-ring trap) and the
  spread-out energy of a defocused bright edge (the halo trap).
* :class:`SmoothDepth` ("depthmap"): the winner is decided on the smoothed quarter-size
  focus measure (a smoothed depth map) and the mask is soft.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stacker.bands import TILE_LEVELS, TileBands, collapse, gaussian_levels, laplacian_bands
from stacker.focus import FOCUS_LEVEL
from stacker.geometry import Rect
from stacker.tiles import Tile, level_size, scale_rect

# Chroma's finest band is stored companded in int8: q = sign(v)·√(A·|v|).  Steps are a
# sixteenth of a code value near zero and ~1 % of the value for strong colour edges,
# up to ±4032 fixed-point units (±252 code values).
_COMPAND = 4.0


def _compand_float(values: np.ndarray) -> np.ndarray:
    q = np.sqrt(np.abs(values) * np.float32(_COMPAND))
    return (np.sign(values) * np.minimum(np.rint(q), 127)).astype(np.int8)


# Lookup tables: int16 (read as uint16, two's complement) → int8 code, and back.
_COMPAND_LUT = _compand_float(np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.float32))
_EXPAND_LUT = (lambda q: q * np.abs(q) / np.float32(_COMPAND))(
    np.arange(256, dtype=np.uint8).view(np.int8).astype(np.float32)
)


def compand(values: np.ndarray) -> np.ndarray:
    """Fixed-point values (int16, or floats) → int8 codes."""
    if values.dtype == np.int16:
        return np.take(_COMPAND_LUT, values.view(np.uint16))
    return _compand_float(values)


def expand(stored: np.ndarray) -> np.ndarray:
    """int8 codes → float32 fixed-point values."""
    return np.take(_EXPAND_LUT, stored.view(np.uint8))


# Neighbourhood over which sharpness is pooled: about this fraction of the frame width
# (σ ≈ 4 px on a 1 MP frame, 16 px at 12 MP — defocus discs grow with resolution too),
# as two passes of a box filter (a triangle kernel: cost independent of its size).
POOL_FRACTION = 4.0 / 1014
MIN_POOL_SIGMA = 4.0


def pool_box(width: int) -> int:
    """Odd box width whose double pass approximates the pooling Gaussian."""
    sigma = max(MIN_POOL_SIGMA, POOL_FRACTION * width)
    return round(sigma * 2.45) | 1


def pool_reach(width: int) -> int:
    """How far (px) pooling looks: the context a tile needs around what it owns."""
    return pool_box(width) - 1


# Pooled sharpness is kept log-encoded in one byte: 16 codes per octave (4.4 % steps).
_CODES_PER_OCTAVE = 16.0


def pyramid_depth(size: tuple[int, int]) -> int:
    """Number of levels so the residual's short side is about 8–16 px (at least 4)."""
    levels = TILE_LEVELS + 1
    while min(level_size(size, levels + 1)) >= 8 and levels < 9:
        levels += 1
    return levels


def valid_mask(valid: Rect | None, outer: Rect, shape: tuple[int, int]) -> np.ndarray | None:
    """Float mask (1 = inside the frame's coverage ``valid``) on the outer tile; None when
    all of it is covered.  (``valid`` already keeps clear of the frame's border by the
    interpolation's reach; coarser levels get the mask's own pyramid, which is soft.)"""
    if valid is None:
        return None
    x0, y0 = valid.x0 - outer.x0, valid.y0 - outer.y0
    x1, y1 = valid.x1 - outer.x0, valid.y1 - outer.y0
    if x0 <= 0 and y0 <= 0 and x1 >= shape[1] and y1 >= shape[0]:
        return None
    mask = np.zeros(shape, dtype=np.float32)
    mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1.0
    return mask


# blend_into works in strips of this many rows: its float temporaries (several per
# call, per worker) stay a few hundred KB instead of several MB per tile.
_BLEND_ROWS = 64


def blend_into(dst: np.ndarray, new: np.ndarray, weight: np.ndarray) -> None:
    """dst ← dst + weight·(new − dst), rounded back to dst's type (int8 = companded).

    ``dst`` is a view into the fused state; OpenCV writes it in place."""
    for r in range(0, dst.shape[0], _BLEND_ROWS):
        rows = slice(r, r + _BLEND_ROWS)
        _blend_strip(dst[rows], new[rows], weight[rows])


def _blend_strip(dst: np.ndarray, new: np.ndarray, weight: np.ndarray) -> None:
    if dst.ndim == 3:
        weight = cv2.merge([weight] * dst.shape[2])
    if dst.dtype == np.int8:
        old = expand(dst)
        diff = cv2.subtract(new, old, dtype=cv2.CV_32F)
        dst[...] = compand(cv2.add(old, cv2.multiply(diff, weight)))
        return
    diff = cv2.subtract(new, dst, dtype=cv2.CV_32F)
    cv2.add(dst, cv2.multiply(diff, weight), dst=dst, dtype=cv2.CV_16S)


class Fusion:
    """The fused pyramid and the blending both decision rules share."""

    @property
    def reach(self) -> int:
        """Context (level-0 px) the decision needs beyond a tile's own pixels."""
        return 16

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.depth = pyramid_depth(size)
        fine = [level_size(size, k) for k in range(TILE_LEVELS)]
        self.luma = [np.zeros((h, w), np.int16) for w, h in fine]
        # Chroma's finest band is stored companded in 8 bits: fine colour detail is small,
        # and this keeps full-resolution colour within memory.
        self.chroma: list[np.ndarray] = [
            np.zeros((h, w, 2), np.int8 if k == 0 else np.int16) for k, (w, h) in enumerate(fine)
        ]
        coarse = [level_size(size, k) for k in range(TILE_LEVELS, self.depth + 1)]
        self.coarse_luma = [np.zeros((h, w), np.int16) for w, h in coarse]
        self.coarse_chroma = [np.zeros((h, w, 2), np.int16) for w, h in coarse]
        self.frames = 0

    def tile_masks(
        self, tile: Tile, bands: TileBands, valid: Rect | None, guide: np.ndarray | None
    ) -> Weights:
        """This frame's blending weights on the outer tile at levels 0..TILE_LEVELS."""
        raise NotImplementedError

    def merge_tile(
        self, tile: Tile, bands: TileBands, valid: Rect | None, guide: np.ndarray | None
    ) -> np.ndarray:
        """Blend one tile's fine bands (thread-safe for tiles with disjoint inner areas);
        returns the inner part of the weight at level TILE_LEVELS for the coarse rest."""
        weights = self.tile_masks(tile, bands, valid, guide)
        masks = weights.levels
        for k in range(TILE_LEVELS):
            inner = tile.inner_in_outer(k)
            ir = scale_rect(tile.inner, k)
            rows, cols = slice(ir.y0, ir.y1), slice(ir.x0, ir.x1)
            weight = masks[k][inner]
            if k == 0 and weights.binary_finest:
                take = (weight > 0).astype(np.uint8)
                cv2.copyTo(bands.luma[0][inner], take, self.luma[0][rows, cols])
                cv2.copyTo(compand(bands.chroma[0][inner]), take, self.chroma[0][rows, cols])
                continue
            blend_into(self.luma[k][rows, cols], bands.luma[k][inner], weight)
            blend_into(self.chroma[k][rows, cols], bands.chroma[k][inner], weight)
        return masks[TILE_LEVELS][tile.inner_in_outer(TILE_LEVELS)]

    def merge_coarse(
        self, luma_low: np.ndarray, chroma_low: np.ndarray, weight_low: np.ndarray
    ) -> None:
        """Blend the coarse levels of one whole frame, from its Gaussian level TILE_LEVELS
        and the weight there (assembled from the tiles)."""
        levels = self.depth - TILE_LEVELS
        luma_g = gaussian_levels(luma_low, levels)
        chroma_g = gaussian_levels(chroma_low, levels)
        weights = gaussian_levels(weight_low, levels)
        luma_b = [*laplacian_bands(luma_g), luma_g[-1]]
        chroma_b = [*laplacian_bands(chroma_g), chroma_g[-1]]
        for j, w in enumerate(weights):
            blend_into(self.coarse_luma[j], luma_b[j], w)
            blend_into(self.coarse_chroma[j], chroma_b[j], w)
        self.frames += 1
        self.end_frame()

    # -- results -----------------------------------------------------------------------
    def _coarse_gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian level TILE_LEVELS of the fused image (luma, chroma), int16."""
        luma = collapse(self.coarse_luma[-1], [b.copy() for b in self.coarse_luma[:-1]])
        chroma = collapse(self.coarse_chroma[-1], [b.copy() for b in self.coarse_chroma[:-1]])
        return luma, chroma

    def preview(self) -> tuple[np.ndarray, np.ndarray]:
        """Fused luma and chroma at level 2 (a quarter size): cheap, for live previews."""
        luma, chroma = self._coarse_gaussian()
        return collapse(luma, [self.luma[2].copy()]), collapse(chroma, [self.chroma[2].copy()])

    def collapse(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fused luma (full size, int16), chroma at level 1 (half size, int16) and chroma's
        finest band (full size, int8 companded: see :func:`expand`).  Consumes the state: bands are
        rebuilt in place to stay within memory."""
        self._release()
        luma, chroma = self._coarse_gaussian()
        luma = collapse(luma, self.luma)
        chroma = collapse(chroma, self.chroma[1:])
        fine = self.chroma[0]
        self.luma, self.chroma = [], []
        return luma, chroma, fine

    def _release(self) -> None:
        """Drop decision-only arrays before the memory-hungry collapse."""

    def end_frame(self) -> None:
        """Called once a frame is fully merged."""


@dataclass
class Weights:
    """A frame's blending weights on one outer tile: ``levels[k]`` for k ≤ TILE_LEVELS
    (the Gaussian pyramid of the finest), ``binary_finest`` when level 0 is all 0 or 1."""

    levels: list[np.ndarray]
    binary_finest: bool

    @classmethod
    def from_mask(cls, mask: np.ndarray, binary: bool) -> Weights:
        return cls(gaussian_levels(mask, TILE_LEVELS), binary)


class SharpestNeighbourhood(Fusion):
    """Default "pyramid" method: the frame with the sharpest neighbourhood wins."""

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(size)
        # The pooled sharpness varies slowly, so it is decided on the half-size grid
        # (level 1): a quarter of the memory and work.  0 = no frame yet.
        w1, h1 = level_size(size, 1)
        self.best = np.zeros((h1, w1), np.uint8)
        self.box = pool_box(size[0]) // 2 | 1
        self.noise = NoiseFloor()

    @property
    def reach(self) -> int:
        return pool_reach(self.size[0])

    def _release(self) -> None:
        self.best = np.zeros((0, 0), np.uint8)

    def tile_masks(
        self, tile: Tile, bands: TileBands, valid: Rect | None, guide: np.ndarray | None
    ) -> Weights:
        band0 = bands.luma[0]
        if self.frames == 0:
            self.noise.observe(band0[tile.inner_in_outer(0)])
        o1 = scale_rect(tile.outer, 1)
        best = self.best[o1.y0 : o1.y1, o1.x0 : o1.x1]
        score = sharpness(band0, self.box)
        half = (score >= best).astype(np.float32)
        floor = self.noise.code
        binary = True
        if floor is not None:
            # Nothing but noise here in every frame so far: average instead of choosing.
            flat = (score < floor) & (best < floor) & (best > 0)
            if flat.any():
                half[flat] = 1.0 / (self.frames + 1)
                binary = False
        h0, w0 = band0.shape
        mask = np.ascontiguousarray(half.repeat(2, axis=0).repeat(2, axis=1)[:h0, :w0])
        vmask = valid_mask(valid, tile.outer, mask.shape)
        if vmask is not None:
            mask *= vmask
        inner1 = tile.inner_in_outer(1)
        won = mask[::2, ::2][inner1] > 0
        np.copyto(best[inner1], np.maximum(best[inner1], score[inner1]), where=won)
        return Weights.from_mask(mask, binary)

    def end_frame(self) -> None:
        if self.frames == 1:
            self.noise.settle()


class NoiseFloor:
    """Sharpness code below which a neighbourhood shows nothing but sensor noise.

    Measured on the first fused frame: the finest band's median absolute value in its
    quietest tiles (textured tiles overestimate), scaled to what the pooled L4 norm of
    Gaussian noise with that median is (⁴√3 σ, σ = median/0.6745), times a margin."""

    MARGIN = 1.5
    PERCENTILE = 10

    def __init__(self) -> None:
        self._medians: list[float] = []
        self.code: int | None = None

    def observe(self, band0: np.ndarray) -> None:
        """One tile's finest band (thread-safe: list.append is atomic)."""
        sample = np.abs(band0[::2, ::2])
        if sample.size:
            self._medians.append(float(np.median(sample)))

    def settle(self) -> None:
        quiet = [m for m in self._medians if m > 0]
        if quiet:
            sigma = float(np.percentile(quiet, self.PERCENTILE)) / 0.6745
            level = np.array([[self.MARGIN * 3.0**0.25 * sigma]], np.float32)
            self.code = int(encode_sharpness(level)[0, 0])
        self._medians = []


def encode_sharpness(norm: np.ndarray) -> np.ndarray:
    code = cv2.log(norm + np.float32(1.0))
    return cv2.convertScaleAbs(code, alpha=_CODES_PER_OCTAVE / np.log(2.0), beta=1.0)


def sharpness(band0: np.ndarray, box: int) -> np.ndarray:
    """Pooled sharpness of the finest band on the half-size grid: the L4 norm over a
    neighbourhood (4th powers averaged 2×2, then two passes of a ``box``-wide mean),
    log-encoded to uint8 codes 1–255 (0 = "nothing yet")."""
    b = band0.astype(np.float32)
    power = cv2.multiply(b, b)
    power = cv2.pyrDown(cv2.multiply(power, power))
    pooled = cv2.blur(
        cv2.blur(power, (box, box), borderType=cv2.BORDER_REFLECT101),
        (box, box),
        borderType=cv2.BORDER_REFLECT101,
    )
    return encode_sharpness(cv2.sqrt(cv2.sqrt(pooled)))


class SmoothDepth(Fusion):
    """ "depthmap" method: a smoothed depth decision, blended through soft masks."""

    def tile_masks(
        self, tile: Tile, bands: TileBands, valid: Rect | None, guide: np.ndarray | None
    ) -> Weights:
        assert guide is not None
        g = scale_rect(tile.outer, FOCUS_LEVEL)
        coarse = guide[g.y0 : g.y1, g.x0 : g.x1]
        h, w = bands.luma[0].shape
        mask = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        vmask = valid_mask(valid, tile.outer, mask.shape)
        if vmask is not None:
            mask *= vmask
        return Weights.from_mask(mask, binary=False)
