"""Registration of one frame to an earlier one: similarity warp + brightness gain.

Inverse-compositional Lucas–Kanade on reduced grey copies ("proxies"), coarse to fine.
The similarity model (uniform scale, rotation, shift — what a camera moving on a rail
does) is parameterised about the image centre so the normal equations stay well
conditioned; contrast/brightness are fitted in closed form at each iteration so blur and
flicker differences between neighbours do not bias the geometry.  The final normalised
correlation tells a frame that cannot be registered from one that can.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from stacker import geometry
from stacker.geometry import Matrix

# Coarse-to-fine: levels are halved until the short side would drop below this.
_COARSEST_SIDE = 120
# The proxy used for registration is at most this wide; 12 MP frames are estimated at 1/4.
PROXY_MAX_WIDTH = 1100
# Pre-smoothing (sigma, proxy pixels) so the linearisation holds and noise averages out.
_PRESMOOTH = 0.8
# Frames are gamma-encoded (sRGB, JPEG: about 2.2); light adds up, and blur keeps its
# mean, only in linear light.  The gain is measured on a copy this wide.
_GAMMA = 2.2
_LIGHT_WIDTH = 256
_GAIN_BLOCK = 16  # light-copy pixels: ~1/16 of the frame's width


class RegistrationError(Exception):
    """A frame could not be registered to the earlier frame (reason in the message)."""


@dataclass(frozen=True)
class Limits:
    """What a step of a few frames on a focus rail can plausibly do."""

    min_correlation: float = 0.5
    max_scale_step: float = 0.08  # relative magnification change between the two frames
    max_rotation_deg: float = 3.0
    max_shift_fraction: float = 0.15  # of the frame width


@dataclass(frozen=True)
class Registration:
    """``warp`` maps the template's pixel coordinates to the image's (full-size pixels);
    multiplying the image by ``gain`` matches the template's brightness."""

    warp: Matrix
    gain: float
    correlation: float


class _Level:
    """One pyramid level of a proxy with what inverse-compositional LK precomputes."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = cv2.GaussianBlur(image, (0, 0), _PRESMOOTH)
        h, w = image.shape
        self.centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        self._gradients: _Gradients | None = None

    def gradients(self, border: int) -> _Gradients:
        if self._gradients is None:
            img = self.image
            h, w = img.shape
            inner = (slice(border, h - border), slice(border, w - border))
            gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)[inner]
            gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)[inner]
            xs = np.arange(w, dtype=np.float32) - np.float32(self.centre[0])
            ys = np.arange(h, dtype=np.float32) - np.float32(self.centre[1])
            self._gradients = _Gradients(
                np.ascontiguousarray(gx),
                np.ascontiguousarray(gy),
                xs[None, border : w - border],
                ys[border : h - border, None],
            )
        return self._gradients

    def forget(self) -> None:
        self._gradients = None


@dataclass(frozen=True)
class _Gradients:
    """A template level's gradients over its inner area and the pixels' coordinates about
    its centre: the steepest-descent images are built from them a block of rows at a
    time (all four at once would be four floats a pixel, 12 MB at 12 MP, held while the
    next frame is registered beside the tile workers' peak)."""

    gx: np.ndarray  # rows × cols, float32
    gy: np.ndarray
    xs: np.ndarray  # 1 × cols
    ys: np.ndarray  # rows × 1

    def steepest_descent(self, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        """Rows r0:r1's Jacobian w.r.t. the similarity parameters (a, b, tx, ty), one row
        per parameter, written into ``out`` (4 × at least that many pixels)."""
        gx, gy, ys = self.gx[r0:r1], self.gy[r0:r1], self.ys[r0:r1]
        sd = out[:, : gx.size]
        a, b = sd[0].reshape(gx.shape), sd[1].reshape(gx.shape)
        np.multiply(gx, self.xs, out=a)
        a += gy * ys
        np.multiply(gy, self.xs, out=b)
        b -= gx * ys
        sd[2] = gx.ravel()
        sd[3] = gy.ravel()
        return sd


class Proxy:
    """A reduced, grey, float32 copy of a frame and its coarser levels."""

    def __init__(self, grey: np.ndarray, full_size: tuple[int, int]) -> None:
        self.full_size = full_size  # (width, height) of the frame it stands for
        images = [grey]
        while min(images[-1].shape) // 2 >= _COARSEST_SIDE:
            prev = images[-1]
            images.append(
                cv2.resize(
                    prev, (prev.shape[1] // 2, prev.shape[0] // 2), interpolation=cv2.INTER_AREA
                )
            )
        self.levels = [_Level(img) for img in images]
        # Linear light, small, taken before the pre-smoothing (smoothing encoded values
        # lowers a sharp frame's mean light): what the brightness gain is measured on.
        light = cv2.pow(grey, _GAMMA)
        while light.shape[1] > _LIGHT_WIDTH:
            light = cv2.resize(
                light, (light.shape[1] // 2, light.shape[0] // 2), interpolation=cv2.INTER_AREA
            )
        self.light = light

    @property
    def image(self) -> np.ndarray:
        return self.levels[0].image

    def forget_gradients(self) -> None:
        """Drop what serving as a template cached (four floats a pixel): a template kept
        for several frames is cheaper to recompute than to hold through fusion."""
        for level in self.levels:
            level.forget()

    def level_factor(self, level: int) -> float:
        """Proxy pixels per frame pixel at ``level``."""
        return self.levels[level].image.shape[1] / self.full_size[0]

    @classmethod
    def from_frame(cls, frame: np.ndarray, bgr: bool = False) -> Proxy:
        h, w = frame.shape[:2]
        scale = proxy_scale(w)
        small = frame
        if scale < 1:  # shrink before the grey conversion: no full-size temporary
            size = (round(w * scale), round(h * scale))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        code = cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY
        return cls.from_grey(cv2.cvtColor(small, code) if small.ndim == 3 else small, (w, h))

    @classmethod
    def from_grey(cls, grey: np.ndarray, full_size: tuple[int, int]) -> Proxy:
        """From 8- or 16-bit luma already at the proxy's size (``proxy_scale``)."""
        peak = 65535.0 if grey.dtype == np.uint16 else 255.0
        return cls(grey.astype(np.float32) * np.float32(1.0 / peak), full_size)


def proxy_scale(width: int) -> Fraction:
    """The proxy's size relative to a frame ``width`` px wide: halved until it is at most
    PROXY_MAX_WIDTH wide."""
    scale = Fraction(1)
    while width * scale > PROXY_MAX_WIDTH:
        scale /= 2
    return scale


def _similarity_about(params: np.ndarray, centre: np.ndarray) -> Matrix:
    a, b, tx, ty = params
    m = geometry.identity()
    m[:2, :2] = [[1.0 + a, -b], [b, 1.0 + a]]
    m[:2, 2] = centre - m[:2, :2] @ centre + np.array([tx, ty])
    return m


def _lk_level(
    template: _Level, image: _Level, warp: Matrix, iterations: int
) -> tuple[Matrix, float]:
    """Refine ``warp`` (template→image, this level's pixels); returns it and the correlation."""
    h, w = template.image.shape
    border = 2
    grads = template.gradients(border)
    inner = (slice(border, h - border), slice(border, w - border))
    # Every per-pixel temporary is one proxy-sized float buffer, reused in place: the next
    # frame is registered while the tile workers hold their own peak.
    tc = np.ascontiguousarray(template.image[inner]).ravel()
    t_mean = float(tc.mean())
    np.subtract(tc, np.float32(t_mean), out=tc)
    t_var = float(tc @ tc)
    to_inner = geometry.translation(border, border)  # warp straight into the inner area
    corr = 0.0
    for _ in range(iterations):
        vc = cv2.warpAffine(
            image.image,
            geometry.to_cv(warp @ to_inner),
            (w - 2 * border, h - 2 * border),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        ).ravel()
        v_mean = float(vc.mean())
        np.subtract(vc, np.float32(v_mean), out=vc)
        cov = float(tc @ vc)
        v_var = float(vc @ vc)
        if v_var <= 1e-12 or t_var <= 1e-12:
            return warp, 0.0
        corr = cov / np.sqrt(t_var * v_var)
        alpha = _contrast(t_var, v_var, cov)  # image ≈ alpha·template + beta
        if abs(alpha) < 1e-6:
            return warp, corr
        error = np.multiply(vc, np.float32(1.0 / alpha), out=vc)
        error -= tc
        hessian, rhs = _normal_equations(grads, _huber_limit(error), error)
        delta = np.linalg.pinv(hessian) @ rhs
        warp = warp @ np.linalg.inv(_similarity_about(delta, template.centre))
        # Converged when the update moves no pixel by more than 1/100 px (of the proxy:
        # 1/25 px at 12 MP); 1/500 cost 40 % more iterations for no measurable gain.
        if abs(delta[0]) * w + abs(delta[1]) * w + abs(delta[2]) + abs(delta[3]) < 1e-2:
            break
    return warp, corr


# Pixels per block of the normal equations: the steepest descent and its weighted copy
# are 1 MB temporaries instead of proxy-sized ones, which would otherwise coincide with
# the tile workers' peak when the next frame is registered during fusion.
_BLOCK = 1 << 16


def _normal_equations(
    grads: _Gradients, limit: np.float32, error: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Σ w·sd·sdᵀ (4×4) and Σ w·sd·error (4) with Huber weights w (``limit``),
    accumulated a block of rows at a time in float64."""
    rows, cols = grads.gx.shape
    step = max(1, _BLOCK // cols)
    hessian = np.zeros((4, 4))
    rhs = np.zeros(4)
    sd_block = np.empty((4, step * cols), np.float32)
    weighted_block = np.empty_like(sd_block)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        sd = grads.steepest_descent(r0, r1, sd_block)
        part = error[r0 * cols : r1 * cols]
        weighted = np.multiply(
            sd, _huber_weights(part, limit), out=weighted_block[:, : sd.shape[1]]
        )
        hessian += weighted @ sd.T
        rhs += weighted @ part
    return hessian, rhs


def _contrast(t_var: float, v_var: float, cov: float) -> float:
    """Contrast of the image relative to the template, both noisy alike: the total least
    squares slope.  The regression slope cov/t_var is diluted by the template's noise, and
    the residual it leaves holds a scaled copy of the template; where the subject's
    detail is concentrated (a stalk before a flat, noisy background) least squares reads
    that copy as a magnification change — the same sign on every link, so the chain drifts
    (rendered stalk 1920×1440×20: −0.0005 scale per link, 12 px at the ends; −0.0001 now)."""
    if cov == 0.0:
        return 0.0
    d = v_var - t_var
    return float((d + np.sqrt(d * d + 4.0 * cov * cov)) / (2.0 * cov))


def _huber_limit(error: np.ndarray) -> np.float32:
    """The residual beyond which Huber weights fall off: 1.345 robust σ.

    Neighbours focused differently really differ where a highlight's bokeh disc grows or
    an occluding edge blurs over its background; least squares reads that growth as a
    magnification change, and over a long stack the chained error adds up to pixels.
    Down-weighting those outliers keeps each link honest (3 MP, 100 frames: the worst
    frame's misregistration fell from 15 to 4.6 px)."""
    sample = np.abs(error[:: max(1, error.size // 50_000)])
    sigma = 1.4826 * float(np.median(sample)) + 1e-9
    return np.float32(1.345 * sigma)


def _huber_weights(error: np.ndarray, limit: np.float32) -> np.ndarray:
    """min(1, limit / |error|), per residual."""
    weights = np.abs(error)
    np.maximum(weights, limit, out=weights)
    return np.divide(limit, weights, out=weights)


def register(
    template: Proxy, image: Proxy, init: Matrix | None = None, limits: Limits | None = None
) -> Registration:
    """Estimate the warp template→image (full-size pixels), coarse to fine from ``init``."""
    limits = limits or Limits()
    if template.full_size != image.full_size:
        raise RegistrationError("frames differ in size")
    warp_full = geometry.identity() if init is None else init
    corr = 0.0
    coarsest = len(template.levels) - 1
    for level in range(coarsest, -1, -1):
        factor = template.level_factor(level)
        warp = geometry.rescale(warp_full, 1.0 / factor)
        iterations = 40 if level == coarsest else 15
        warp, corr = _lk_level(template.levels[level], image.levels[level], warp, iterations)
        warp_full = geometry.rescale(warp, factor)
    _check_plausible(warp_full, corr, template.full_size, limits)
    return Registration(
        warp=warp_full, gain=_relative_gain(template, image, warp_full), correlation=corr
    )


def _check_plausible(warp: Matrix, corr: float, size: tuple[int, int], limits: Limits) -> None:
    scale, angle, _, _ = geometry.decompose(warp)
    centre = np.array([size[0] / 2, size[1] / 2, 1.0])
    shift = float(np.hypot(*((warp @ centre)[:2] - centre[:2])))
    if not np.isfinite(warp).all():
        raise RegistrationError("alignment diverged")
    if corr < limits.min_correlation:
        raise RegistrationError(f"too different from the frame before it (correlation {corr:.2f})")
    if abs(scale - 1.0) > limits.max_scale_step:
        raise RegistrationError(f"implausible magnification change ({(scale - 1) * 100:+.1f} %)")
    if abs(np.degrees(angle)) > limits.max_rotation_deg:
        raise RegistrationError(f"implausible rotation ({np.degrees(angle):+.1f}°)")
    if shift > limits.max_shift_fraction * size[0]:
        raise RegistrationError(f"implausible shift ({shift:.0f} px)")


def _relative_gain(template: Proxy, image: Proxy, warp_full: Matrix) -> float:
    """Brightness ratio template/image over the area both see, as the factor on encoded
    values that matches the two frames' mean linear light (blur keeps that mean).

    The mean of the encoded values is no good: encoding is concave, so a blurred frame's
    mean is higher than a sharp one's of the same light, and the chained gains carry the
    difference between the reference and the far end of the stack (rendered dome
    1920×1440×20: the far frames up to 5 % too bright; within 0.2 % now)."""
    h, w = template.light.shape
    warp = geometry.rescale(warp_full, template.full_size[0] / w)  # to this copy's pixels
    rect = geometry.covered_rect(warp, (w, h), (w, h), pad=2.0)
    if rect.empty:
        return 1.0
    warped = cv2.warpAffine(
        image.light, geometry.to_cv(warp), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    a = template.light[rect.y0 : rect.y1, rect.x0 : rect.x1]
    b = warped[rect.y0 : rect.y1, rect.x0 : rect.x1]
    # The median over blocks of the ratio of their mean light: a clipped highlight is not
    # the light it stands for (in focus it clips, spread out of focus it does not), so
    # the few blocks it lights must not sway the whole frame's gain.
    blocks = (max(1, round(b.shape[1] / _GAIN_BLOCK)), max(1, round(b.shape[0] / _GAIN_BLOCK)))
    a_means = cv2.resize(a, blocks, interpolation=cv2.INTER_AREA)
    b_means = cv2.resize(b, blocks, interpolation=cv2.INTER_AREA)
    lit = (a_means > 1e-4) & (b_means > 1e-4)
    if not lit.any():
        return 1.0
    return float(np.median(a_means[lit] / b_means[lit])) ** (1.0 / _GAMMA)
