"""Plain max-contrast pyramid fusion — the yardstick, not a product method.

What ``enfuse --hard-mask`` does: at every pixel the frame with the highest local
contrast (standard deviation of luminance in a 5×5 window) gets weight 1, and the hard
masks are blended through a Laplacian pyramid.  Tests measure the default method against
it on the same aligned frames.  Whole-frame float32: for measurement on moderate sizes
only.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def local_contrast(grey: np.ndarray) -> np.ndarray:
    mean = cv2.blur(grey, (5, 5))
    sq = cv2.blur(grey * grey, (5, 5))
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def hard_mask_fusion(frames: Sequence[np.ndarray], levels: int = 6) -> np.ndarray:
    """Fuse aligned RGB uint8 frames; returns uint8 RGB."""
    imgs: list[np.ndarray] = [f.astype(np.float32) for f in frames]
    contrast = np.stack([local_contrast(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in imgs])
    winner = np.argmax(contrast, axis=0)
    fused: list[np.ndarray] | None = None
    for i, img in enumerate(imgs):
        mask = (winner == i).astype(np.float32)
        g_img, g_mask = [img], [mask]
        for _ in range(levels):
            g_img.append(cv2.pyrDown(g_img[-1]))
            g_mask.append(cv2.pyrDown(g_mask[-1]))
        bands = [
            g - cv2.pyrUp(g_img[k + 1], dstsize=(g.shape[1], g.shape[0]))
            for k, g in enumerate(g_img[:-1])
        ]
        bands.append(g_img[-1])
        weighted = [b * m[..., None] for b, m in zip(bands, g_mask, strict=True)]
        fused = weighted if fused is None else [a + b for a, b in zip(fused, weighted, strict=True)]
    assert fused is not None
    out = fused[-1]
    for band in reversed(fused[:-1]):
        out = cv2.pyrUp(out, dstsize=(band.shape[1], band.shape[0])) + band
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
