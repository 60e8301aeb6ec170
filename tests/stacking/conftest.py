"""Fixtures for the stacker tests (helpers are in stacking_support)."""

from __future__ import annotations

import cv2
import pytest
from stacking_support import rendered


@pytest.fixture
def tmp_frames(tmp_path):  # type: ignore[no-untyped-def]
    """Write a small rendered stack as JPEG files; returns their paths."""

    def write(kind: str = "bench", count: int = 6, fmt: str = "jpg") -> list:
        stack = rendered(kind, count)
        paths = []
        for i, image in enumerate(stack.images):
            p = tmp_path / f"frame_{i:03d}.{fmt}"
            cv2.imwrite(str(p), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            paths.append(p)
        return paths

    return write
