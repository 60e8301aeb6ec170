"""Shared helpers for the stacker tests: rendered stacks with ground truth, PSNR."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from rig.sim.render import Stack, render_stack
from stacker import StackOptions, StackResult, Stream, geometry

SIZE = (480, 360)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(10 * np.log10(255.0**2 / np.mean(d * d)))


@functools.cache
def rendered(kind: str, count: int = 12, seed: int = 3, size: tuple[int, int] = SIZE) -> Stack:
    """Rendered once per test session (the renderer is deterministic per seed)."""
    return render_stack(kind, count, size=size, seed=seed)


def stack_frames(stack: Stack, **options: object) -> StackResult:
    s = Stream(
        count=len(stack.frames), reference=stack.reference_index, options=StackOptions(**options)
    )  # type: ignore[arg-type]
    for image in stack.images:
        s.add(image)
    return s.finish()


def truth_for(stack: Stack, result: StackResult) -> np.ndarray:
    c = result.crop
    return stack.truth(result.reference)[c.y0 : c.y1, c.x0 : c.x1]


def aligned_frames(stack: Stack, result: StackResult) -> list[np.ndarray]:
    """Every frame warped into the reference geometry with the stream's own warps."""
    out = []
    for image, report in zip(stack.images, result.frames, strict=True):
        assert report.warp is not None
        out.append(
            cv2.warpAffine(
                image,
                geometry.to_cv(report.warp),
                stack.size,
                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT101,
            )
        )
    return out


def crop(img: np.ndarray, result: StackResult) -> np.ndarray:
    c = result.crop
    return img[c.y0 : c.y1, c.x0 : c.x1]
