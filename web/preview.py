"""What the phone needs to judge focus: focus peaking and a magnified crop."""

from __future__ import annotations

import cv2
import numpy as np

PEAK_COLOUR = (0, 0, 255)  # BGR red


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("the preview frame could not be decoded")
    return img


def encode(bgr: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the preview")
    return buf.tobytes()


# Peaking: a fine-scale Laplacian (after a Gaussian of this σ, in pixels) marks a pixel
# where it exceeds PEAK_NOISE_MULTIPLE × the frame's own noise floor, estimated as the
# MAD of that same high-pass over the whole frame (most of a frame is out of focus or
# flat, so its median is noise).  The figures come from the simulated bench
# (tests/web/test_peaking.py): with these, a defocused or dark frame marks < 0.5 % of its
# pixels and a 1:1 crop in focus marks most of the subject's edges.
PEAK_SIGMA_PX = 0.8
PEAK_NOISE_MULTIPLE = 8.0
# Below this the noise estimate is JPEG quantisation on a black frame, not a floor.
MIN_NOISE = 1.0
MAD_TO_SIGMA = 1.4826  # MAD × this = σ, for Gaussian noise
# A marked pixel needs this many marked pixels in its 3×3 neighbourhood (itself
# included): an edge is a line, a noise speck stands alone.
MIN_NEIGHBOURS = 3


def peaking_mask(bgr: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Where ``bgr`` (8-bit BGR) shows detail well above its own noise: a bool mask.

    ``strength`` > 1 lowers the threshold (more marks), < 1 raises it."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    detail = np.abs(
        cv2.Laplacian(cv2.GaussianBlur(grey, (0, 0), PEAK_SIGMA_PX), cv2.CV_32F, ksize=1)
    )
    noise = max(MAD_TO_SIGMA * float(np.median(detail)), MIN_NOISE)
    marked = detail >= PEAK_NOISE_MULTIPLE * noise / max(strength, 1e-3)
    neighbours = cv2.boxFilter(
        marked.astype(np.uint8), -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    return np.asarray(marked & (neighbours >= MIN_NEIGHBOURS))


def focus_peaking(bgr: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Paint what is in focus red: detail well above the frame's noise floor, so a
    defocused or dark frame stays (nearly) unmarked instead of sprayed with noise."""
    out = bgr.copy()
    out[peaking_mask(bgr, strength)] = PEAK_COLOUR
    return out


def crop_around(bgr: np.ndarray, x: float, y: float, size: int) -> np.ndarray:
    """A ``size``×``size`` crop at 1:1 centred on (x, y) given as fractions of the frame."""
    h, w = bgr.shape[:2]
    size = max(16, min(size, w, h))
    cx, cy = round(x * (w - 1)), round(y * (h - 1))
    x0 = min(max(0, cx - size // 2), w - size)
    y0 = min(max(0, cy - size // 2), h - size)
    return np.ascontiguousarray(bgr[y0 : y0 + size, x0 : x0 + size])
