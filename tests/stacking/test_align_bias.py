"""Registration without a systematic scale bias between differently focused neighbours.

On a thin subject before a flat, noisy background, fitting the contrast between two
frames by plain regression (diluted by the template's noise) left a scaled copy of the
template in the residual, which least squares read as a magnification change of the
same sign on every link: the chain drifted.  Each link may still err, but not on average.
Likewise the brightness gain between differently focused frames.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from stacking_support import rendered

from stacker import geometry
from stacker.align import Proxy, _contrast, _relative_gain, register


@pytest.mark.slow
def test_no_systematic_scale_bias_along_a_stalk_stack():
    stack = rendered("stalk")
    to3 = [np.vstack([f.transform, [0.0, 0.0, 1.0]]) for f in stack.frames]
    proxies = [Proxy.from_frame(image) for image in stack.images]
    errors = []
    for i in range(1, len(proxies)):
        estimated = register(proxies[i - 1], proxies[i]).warp
        true = to3[i] @ np.linalg.inv(to3[i - 1])
        errors.append(geometry.decompose(estimated)[0] - geometry.decompose(true)[0])
    # Plain regression: −0.0006 a link on this stack (11 links: 0.7 % at the ends).
    assert abs(float(np.mean(errors))) < 0.0003, errors


def test_contrast_is_not_diluted_by_the_template_noise():
    rng = np.random.default_rng(0)
    signal = rng.normal(0.0, 1.0, 100_000)
    template = signal + rng.normal(0.0, 1.0, signal.size)  # as noisy as it is detailed
    image = 0.8 * signal + rng.normal(0.0, 1.0, signal.size)
    t, v = template - template.mean(), image - image.mean()
    alpha = _contrast(float(t @ t), float(v @ v), float(t @ v))
    assert abs(alpha - 0.8) < 0.03  # regression: cov/t_var ≈ 0.4
    assert _contrast(1.0, 1.0, 0.0) == 0.0


def _encoded(linear: np.ndarray) -> np.ndarray:
    return np.clip(linear, 0.0, 1.0) ** (1.0 / 2.2)


def test_a_blurred_frame_of_the_same_light_needs_no_gain():
    """Defocus spreads light but keeps its mean; the mean of the encoded values rises
    (encoding is concave), which must not be read as a brighter exposure."""
    rng = np.random.default_rng(1)
    linear = cv2.resize(
        rng.uniform(0.0, 1.0, (90, 120)) ** 3, (960, 720), interpolation=cv2.INTER_NEAREST
    )
    sharp = _encoded(linear)
    blurred = _encoded(cv2.GaussianBlur(linear, (0, 0), 6.0))
    as_frame = lambda img: cv2.merge([np.rint(img * 255).astype(np.uint8)] * 3)  # noqa: E731
    template, image = Proxy.from_frame(as_frame(sharp)), Proxy.from_frame(as_frame(blurred))
    assert abs(_relative_gain(template, image, geometry.identity()) - 1.0) < 0.005
    # Measured where the frames overlap, through the warp: a frame shifted 200 px right,
    # with 1.5 times the light, over a left-to-right ramp of light (the part it does not
    # share is dark).
    ramp = linear * np.linspace(0.05, 0.6, linear.shape[1])[None, :]
    shifted = np.zeros_like(ramp)
    shifted[:, 200:] = 1.5 * ramp[:, :-200]
    template = Proxy.from_frame(as_frame(_encoded(ramp)))
    moved = Proxy.from_frame(as_frame(_encoded(shifted)))
    gain = _relative_gain(template, moved, geometry.translation(200, 0))
    assert abs(gain - 1.5 ** (-1 / 2.2)) < 0.005
    # A real exposure change still is one: twice the light, 2^(1/2.2) on encoded values.
    brighter = Proxy.from_frame(as_frame(_encoded(linear * 2.0 * 0.45)))
    dimmer = Proxy.from_frame(as_frame(_encoded(linear * 0.45)))
    gain = _relative_gain(dimmer, brighter, geometry.identity())
    assert abs(gain - 2.0 ** (-1 / 2.2)) < 0.005
