"""A tile is resampled in floating-point Y/Cr/Cb, strip by strip, from only the source
area it maps to: what comes out is what warping the whole converted frame gives."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from stacker import geometry
from stacker.bands import _RGB_TO_YCC, FULL_SCALE, to_fixed_ycc, warped_ycc
from stacker.geometry import Rect

H, W = 301, 433


def _frame(dtype: type) -> np.ndarray:
    rng = np.random.default_rng(11)
    peak = np.iinfo(dtype).max
    noise = rng.integers(0, peak, (H, W, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.5) * 1.8 - 0.4 * peak, 0, peak).astype(dtype)


def _whole_frame(src: np.ndarray, warp: np.ndarray, outer: Rect, gain: float, bgr: bool):
    """The definition: the whole frame to float Y/Cr/Cb, warped at once, rounded."""
    peak = np.iinfo(src.dtype).max
    m = _RGB_TO_YCC * (gain * FULL_SCALE / peak)
    ycc = cv2.transform(src.astype(np.float32), m[:, ::-1] if bgr else m)
    out = cv2.warpAffine(
        ycc,
        geometry.to_cv(warp @ geometry.translation(outer.x0, outer.y0)),
        (outer.width, outer.height),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT101,
    )
    return np.rint(out[..., 0]), np.rint(out[..., 1:])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "outer",
    [
        Rect(0, 0, 200, 170),  # top-left corner: mirrored at two frame edges
        Rect(120, 60, 330, 290),  # inside
        Rect(W - 150, H - 310 + 20, W, H),  # bottom-right corner, taller than a strip
    ],
)
@pytest.mark.parametrize("shift", [(6.3, -4.7), (-25.5, 31.25)])
def test_strips_from_source_areas_equal_warping_the_whole_frame(dtype, outer, shift):
    src = _frame(dtype)
    warp = geometry.similarity(1.013, np.deg2rad(0.7), *shift, centre=(W / 2, H / 2))
    luma, chroma = warped_ycc(src, warp, outer, cv2.INTER_CUBIC, 0.94, bgr=True)
    want_luma, want_chroma = _whole_frame(src, warp, outer, 0.94, bgr=True)
    assert luma.dtype == chroma.dtype == np.int16
    assert luma.shape == (outer.height, outer.width)
    assert chroma.shape == (outer.height, outer.width, 2)
    # Float sums in another order round on the other side of .5 now and then: by one
    # fixed-point unit (1/16 of a code value), never more.
    assert np.abs(luma - want_luma).max() <= 1
    assert np.abs(chroma - want_chroma).max() <= 1


def test_the_reference_frame_is_converted_not_resampled():
    src = _frame(np.uint8)
    outer = Rect(16, 8, 300, 250)
    luma, chroma = warped_ycc(src, None, outer, cv2.INTER_CUBIC, 1.0, bgr=False)
    want = to_fixed_ycc(src[8:250, 16:300], 1.0, bgr=False)
    assert np.array_equal(luma, want[0]) and np.array_equal(chroma, want[1])


def test_resampling_keeps_what_eight_bits_would_round_away():
    """A smooth ramp moved by a fraction of a pixel: in floats every output value lies
    between its neighbours' in fixed point; through 8-bit RGB it would come in whole
    code value steps (16 units)."""
    ramp = np.tile(np.linspace(40, 60, W, dtype=np.float32), (H, 1))
    src = np.dstack([ramp] * 3).round().astype(np.uint8)
    warp = geometry.translation(0.37, 0.0)
    luma, _ = warped_ycc(src, warp, Rect(50, 50, 250, 90), cv2.INTER_CUBIC, 1.0, bgr=False)
    steps = np.unique(np.diff(luma[20].astype(np.int32)))
    assert set(steps.tolist()) - {0, FULL_SCALE // 255}, steps
