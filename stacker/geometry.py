"""Affine geometry on 3×3 homogeneous matrices (OpenCV pixel-centre convention).

A *warp* ``M`` maps output (reference) pixel coordinates to source pixel coordinates,
which is what ``cv2.warpAffine(..., flags=WARP_INVERSE_MAP)`` wants.  Keeping every
transform as a 3×3 matrix makes chaining a plain matrix product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Matrix = np.ndarray  # 3×3 float64


def identity() -> Matrix:
    return np.eye(3, dtype=np.float64)


def to_cv(m: Matrix) -> np.ndarray:
    """The 2×3 float64 matrix OpenCV expects."""
    return np.ascontiguousarray(m[:2, :], dtype=np.float64)


def from_cv(m23: np.ndarray) -> Matrix:
    out = identity()
    out[:2, :] = m23
    return out


def translation(dx: float, dy: float) -> Matrix:
    m = identity()
    m[0, 2], m[1, 2] = dx, dy
    return m


def similarity(
    scale: float, angle_rad: float, dx: float, dy: float, centre: tuple[float, float] = (0.0, 0.0)
) -> Matrix:
    """Scale and rotate about ``centre``, then translate by (dx, dy)."""
    c, s = np.cos(angle_rad) * scale, np.sin(angle_rad) * scale
    cx, cy = centre
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return translation(cx + dx, cy + dy) @ rot @ translation(-cx, -cy)


def nearest_similarity(m: Matrix) -> Matrix:
    """Project an affine matrix onto the similarity group (uniform scale, rotation, shift).

    A camera moving along a rail changes magnification uniformly; the extra affine
    freedoms (shear, anisotropic scale) only absorb noise, so we drop them.
    """
    a = 0.5 * (m[0, 0] + m[1, 1])
    b = 0.5 * (m[1, 0] - m[0, 1])
    out = identity()
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = a, -b, b, a
    out[0, 2], out[1, 2] = m[0, 2], m[1, 2]
    return out


def resized_coords(factor: float) -> Matrix:
    """Full-size pixel → pixel of the image resized by ``factor`` (cv2.resize's pixel
    centres: ``factor * (x + 0.5) - 0.5``)."""
    shift = 0.5 * factor - 0.5
    return np.array([[factor, 0.0, shift], [0.0, factor, shift], [0.0, 0.0, 1.0]])


def rescale(m: Matrix, factor: float) -> Matrix:
    """Express a warp estimated on images resized by ``factor`` in full-size pixels."""
    c = resized_coords(factor)
    return np.linalg.inv(c) @ m @ c


def decompose(m: Matrix) -> tuple[float, float, float, float]:
    """(scale, angle in radians, dx, dy) of a similarity matrix."""
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    return scale, angle, float(m[0, 2]), float(m[1, 2])


@dataclass(frozen=True)
class Rect:
    """Half-open pixel rectangle [x0, x1) × [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return max(0, self.x1 - self.x0)

    @property
    def height(self) -> int:
        return max(0, self.y1 - self.y0)

    @property
    def empty(self) -> bool:
        return self.width == 0 or self.height == 0

    def intersect(self, other: Rect) -> Rect:
        return Rect(
            max(self.x0, other.x0),
            max(self.y0, other.y0),
            min(self.x1, other.x1),
            min(self.y1, other.y1),
        )


def covered_rect(
    warp: Matrix, out_size: tuple[int, int], src_size: tuple[int, int], pad: float
) -> Rect:
    """The largest axis-aligned output rectangle whose pixels all sample inside the source.

    ``pad`` source pixels are kept clear of the border (interpolation support).
    The source's valid area, mapped into output coordinates, is a convex quadrilateral
    that is nearly axis-aligned for the small rotations of a focus rail, so taking the
    inner extreme of each side's two corners stays inside it.
    """
    sw, sh = src_size
    inv = np.linalg.inv(warp)
    corners = np.array(
        [
            [pad, pad, 1],
            [sw - 1 - pad, pad, 1],
            [pad, sh - 1 - pad, 1],
            [sw - 1 - pad, sh - 1 - pad, 1],
        ],
        dtype=np.float64,
    ).T
    (tlx, trx, blx, brx), (tly, try_, bly, bry) = (inv @ corners)[:2]
    ow, oh = out_size
    rect = Rect(
        int(np.ceil(max(tlx, blx))),
        int(np.ceil(max(tly, try_))),
        int(np.floor(min(trx, brx))) + 1,
        int(np.floor(min(bly, bry))) + 1,
    )
    return rect.intersect(Rect(0, 0, ow, oh))
