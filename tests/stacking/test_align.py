"""Registration: known similarity transforms are recovered to a tenth of a pixel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from stacking_support import SIZE, rendered

from stacker import StackOptions, Stream, geometry
from stacker.align import Proxy, RegistrationError, register

CORNERS = np.array(
    [[0, 0, 1], [SIZE[0] - 1, 0, 1], [0, SIZE[1] - 1, 1], [SIZE[0] - 1, SIZE[1] - 1, 1]],
    dtype=np.float64,
).T


def corner_error(estimated: np.ndarray, truth: np.ndarray) -> float:
    """Largest displacement (px) between two warps over the frame's corners."""
    return float(np.abs((estimated @ CORNERS)[:2] - (truth @ CORNERS)[:2]).max())


def sharp_scene() -> np.ndarray:
    """An all-in-focus textured image from the renderer (its ground truth)."""
    return rendered("planes").truth()


def warped(
    image: np.ndarray,
    warp: np.ndarray,
    blur: float = 0.0,
    gain: float = 1.0,
    noise: float = 1.5,
    seed: int = 0,
) -> np.ndarray:
    """``image`` seen through ``warp`` (output → source), blurred, brightened, noisy."""
    out = cv2.warpAffine(
        image.astype(np.float32),
        geometry.to_cv(warp),
        SIZE,
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT101,
    )
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    out = out * gain + np.random.default_rng(seed).normal(0, noise, out.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


CENTRE = ((SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2)


@pytest.mark.parametrize(
    ("scale", "angle_deg", "dx", "dy"),
    [
        (1.02, 0.0, 0.0, 0.0),
        (0.98, 0.0, 3.7, -2.2),
        (1.0, 0.5, -1.3, 0.8),
        (1.015, -0.3, 6.25, 4.5),
    ],
)
@pytest.mark.slow
def test_register_recovers_similarity_within_a_tenth_of_a_pixel(scale, angle_deg, dx, dy):
    base = sharp_scene()
    truth = geometry.similarity(scale, np.radians(angle_deg), dx, dy, centre=CENTRE)
    template = warped(base, geometry.identity(), seed=1)
    image = warped(base, truth, blur=0.6, seed=2)
    reg = register(Proxy.from_frame(template), Proxy.from_frame(image))
    # image(x) = base(truth·x), so the template→image warp is truth⁻¹.
    expected = np.linalg.inv(truth)
    assert corner_error(reg.warp, expected) < 0.1
    s, a, _, _ = geometry.decompose(reg.warp)
    assert s == pytest.approx(1 / scale, abs=4e-4)
    assert np.degrees(a) == pytest.approx(-angle_deg, abs=0.02)


def test_register_measures_flicker_as_gain():
    base = sharp_scene()
    reg = register(
        Proxy.from_frame(warped(base, geometry.identity(), seed=1)),
        Proxy.from_frame(warped(base, geometry.identity(), gain=0.95, seed=2)),
    )
    assert reg.gain == pytest.approx(1 / 0.95, rel=0.005)


def test_chain_through_a_stack_stays_within_a_tenth_of_a_pixel():
    """Eight frames, each a further 0.4 % magnification and a small drift, focus moving
    (blur changing): chained neighbour to neighbour, every frame lands on the reference."""
    base = sharp_scene()
    truths, frames = [], []
    for i in range(8):
        m = geometry.similarity(
            1 + 0.004 * (i - 4), np.radians(0.02 * i), 0.3 * i, -0.2 * i, centre=CENTRE
        )
        truths.append(m)
        frames.append(
            warped(base, m, blur=0.4 + 0.25 * abs(i - 3), gain=1 + 0.01 * (-1) ** i, seed=i)
        )
    stream = Stream(count=8, reference=4, options=StackOptions(workers=1))
    for f in frames:
        stream.add(f)
    result = stream.finish()
    # frame_i(x) = base(W_i·x): the reference→frame warp is W_i⁻¹·W_ref.
    for report, m in zip(result.frames, truths, strict=True):
        assert report.status == "fused"
        assert corner_error(report.warp, np.linalg.inv(m) @ truths[4]) < 0.1, report.index


@pytest.mark.slow
def test_unrelated_frame_cannot_be_registered():
    a = rendered("planes").truth()
    b = rendered("planes", seed=9).truth()  # same kind of scene, different subject
    with pytest.raises(RegistrationError, match="too different"):
        register(Proxy.from_frame(a), Proxy.from_frame(b))


def test_dark_frame_cannot_be_registered():
    a = rendered("planes").truth()
    dark = np.random.default_rng(0).integers(0, 3, a.shape, dtype=np.uint8)
    with pytest.raises(RegistrationError):
        register(Proxy.from_frame(a), Proxy.from_frame(dark))
