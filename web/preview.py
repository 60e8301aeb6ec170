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


def focus_peaking(bgr: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Paint the sharpest edges red: the places in focus stand out on a small screen.

    Edges are where the Laplacian is strongest relative to this frame (the top few per
    cent), so peaking works at any exposure and subject contrast."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    lap = np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (3, 3), 0), cv2.CV_32F, ksize=3))
    threshold = max(8.0, float(np.percentile(lap, 97.0)) / max(strength, 1e-3))
    mask = cv2.dilate((lap >= threshold).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    out = bgr.copy()
    out[mask] = PEAK_COLOUR
    return out


def crop_around(bgr: np.ndarray, x: float, y: float, size: int) -> np.ndarray:
    """A ``size``×``size`` crop at 1:1 centred on (x, y) given as fractions of the frame."""
    h, w = bgr.shape[:2]
    size = max(16, min(size, w, h))
    cx, cy = round(x * (w - 1)), round(y * (h - 1))
    x0 = min(max(0, cx - size // 2), w - size)
    y0 = min(max(0, cy - size // 2), h - size)
    return np.ascontiguousarray(bgr[y0 : y0 + size, x0 : x0 + size])
