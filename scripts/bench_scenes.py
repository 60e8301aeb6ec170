"""Rendered focus stacks for the benchmarks, cached on disk, with ground truth on demand.

A stack is rendered once into ``<cache>/<kind>-<W>x<H>-<N>-s<seed>/`` as JPEG frames
(quality 95, what the rig writes) plus ``stack.json``; the all-in-focus truth and the
true depth in the geometry of any frame are rendered when first asked for and cached
beside them.  Frames are rendered one at a time, so a 200-frame 12 MP stack fits.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rig.sim.render import (
    default_optics,
    ground_truth,
    ground_truth_depth,
    make_scene,
    render_frame,
    scene_size_for,
)
from rig.sim.render.scene import Scene

DEPTH_RANGE = (10.0, 12.0)
FOCUS_RANGE = (9.9, 12.1)  # the subject's depth plus 5 % each side
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "macrorig-bench"


@dataclass(frozen=True)
class CachedStack:
    folder: Path
    kind: str
    size: tuple[int, int]
    count: int
    seed: int

    @property
    def frames(self) -> list[Path]:
        return [self.folder / f"frame_{i:03d}.jpg" for i in range(self.count)]

    @property
    def depth_span(self) -> float:
        return DEPTH_RANGE[1] - DEPTH_RANGE[0]

    def _meta(self) -> dict:
        return json.loads((self.folder / "stack.json").read_text())

    def _scene(self) -> Scene:
        meta = self._meta()
        return make_scene(
            self.kind, tuple(meta["scene_size"]), seed=self.seed, depth_range=DEPTH_RANGE
        )

    def transform(self, index: int) -> np.ndarray:
        """Scene pixel → frame ``index``'s pixel, 2×3 (OpenCV pixel centres)."""
        return np.asarray(self._meta()["transforms"][index])

    def truth(self, index: int) -> np.ndarray:
        """All-in-focus RGB in frame ``index``'s geometry."""
        path = self.folder / f"truth_{index:03d}.png"
        if not path.exists():
            rgb = ground_truth(self._scene(), self.transform(index), self.size)
            cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        img = cv2.imread(str(path))
        if img is None:
            raise FileNotFoundError(path)
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def truth_depth(self, index: int) -> np.ndarray:
        """True depth (focus-position mm, float32) in frame ``index``'s geometry."""
        path = self.folder / f"depth_{index:03d}.npy"
        if not path.exists():
            np.save(path, ground_truth_depth(self._scene(), self.transform(index), self.size))
        return np.load(path)


def ensure_rendered(
    kind: str, size: tuple[int, int], count: int, seed: int = 1, cache: Path = DEFAULT_CACHE
) -> tuple[CachedStack, bool]:
    """The cached stack, and whether it had to be rendered now."""
    folder = cache / f"{kind}-{size[0]}x{size[1]}-{count}-s{seed}"
    stack = CachedStack(folder, kind, size, count, seed)
    if (folder / "stack.json").exists() and all(p.exists() for p in stack.frames):
        return stack, False
    folder.mkdir(parents=True, exist_ok=True)
    optics = default_optics(size[0])
    focus = np.linspace(*FOCUS_RANGE, count)
    scene_size = scene_size_for(size, optics, focus, DEPTH_RANGE)
    started = time.monotonic()
    print(f"rendering {count} frames of {kind} at {size[0]}×{size[1]} into {folder} (once)…")
    scene = make_scene(kind, scene_size, seed=seed, depth_range=DEPTH_RANGE)
    transforms = []
    for i, (f, path) in enumerate(zip(focus, stack.frames, strict=True)):
        frame = render_frame(scene, float(f), optics, seed=seed * 1000 + i, out_size=size)
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), rgb, [cv2.IMWRITE_JPEG_QUALITY, 95])
        transforms.append(frame.transform.tolist())
        print(f"\r  {i + 1}/{count}", end="", flush=True)
    print(f"\n  done in {time.monotonic() - started:.0f} s")
    meta = {"kind": kind, "size": size, "scene_size": scene_size, "seed": seed}
    meta |= {"focus_mm": focus.tolist(), "transforms": transforms}
    (folder / "stack.json").write_text(json.dumps(meta))
    return stack, True


def subset_indices(total: int, count: int) -> list[int]:
    """``count`` evenly spaced frames of ``total`` (first and last included)."""
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]
