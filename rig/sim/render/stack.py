"""Focus stacks with a known answer: frames at evenly spaced focus positions plus truth."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rig.sim.render.faults import Faults, move_part
from rig.sim.render.imaging import RenderedFrame, ground_truth, ground_truth_depth, render_frame
from rig.sim.render.optics import Optics, default_optics
from rig.sim.render.scene import DEFAULT_DEPTH_RANGE, Scene, make_scene
from rig.sim.render.texture import Size

DEFAULT_FRAME_SIZE: Size = (640, 480)
# By default the stack starts and ends this fraction of the subject depth beyond it.
FOCUS_OVERSHOOT = 0.05


@dataclass(frozen=True, eq=False)
class Stack:
    """Rendered frames of one scene, near to far, and their ground truth."""

    scene: Scene
    optics: Optics
    frames: tuple[RenderedFrame, ...]
    seed: int

    @property
    def size(self) -> Size:
        return self.frames[0].size

    @property
    def reference_index(self) -> int:
        """The middle frame: the default geometry for the ground truth."""
        return len(self.frames) // 2

    @property
    def images(self) -> list[NDArray[np.uint8]]:
        return [frame.image for frame in self.frames]

    @property
    def focus_mm(self) -> NDArray[np.float64]:
        return np.array([frame.focus_mm for frame in self.frames])

    @property
    def transforms(self) -> NDArray[np.float64]:
        """N×2×3 affines, scene pixels → each frame's pixels."""
        return np.stack([frame.transform for frame in self.frames])

    @property
    def gains(self) -> NDArray[np.float64]:
        return np.array([frame.gain for frame in self.frames])

    def truth(self, reference_index: int | None = None) -> NDArray[np.uint8]:
        """All-in-focus RGB image in the geometry of frame ``reference_index``."""
        index = self.reference_index if reference_index is None else reference_index
        return ground_truth(self.scene, self.frames[index].transform, self.size)

    def truth_depth(self, reference_index: int | None = None) -> NDArray[np.float32]:
        """Depth map (focus-position mm) in the geometry of frame ``reference_index``."""
        index = self.reference_index if reference_index is None else reference_index
        return ground_truth_depth(self.scene, self.frames[index].transform, self.size)


def render_stack(
    kind_or_scene: str | Scene,
    count: int,
    *,
    size: Size | None = None,
    focus_range: tuple[float, float] | None = None,
    optics: Optics | None = None,
    seed: int = 0,
    noise: bool = True,
    light: float = 1.0,
    depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    faults: Faults | None = None,
) -> Stack:
    """Render ``count`` frames focused at evenly spaced positions across ``focus_range``.

    ``kind_or_scene``: a scene kind for :func:`make_scene` (built with ``depth_range`` and
    ``seed``, a little larger than the frames so the warp never leaves it) or a Scene.
    ``size``: frame (width, height); default 640×480, or for a given Scene the largest
    size the warp keeps inside it.
    ``focus_range``: (first, last) mm; default the subject depth range plus 5 % each side.
    ``optics``: default :func:`default_optics` for the frame width.  ``noise=False``
    removes sensor noise only.  ``faults``: what goes wrong while the stack is taken
    (:class:`~rig.sim.render.faults.Faults`).  Deterministic for a given ``seed``.
    """
    if count < 2:
        raise ValueError(f"a stack needs at least 2 frames, got {count}")
    scene_range = kind_or_scene.depth_range if isinstance(kind_or_scene, Scene) else depth_range
    faults = faults or Faults()
    faults.check(count)
    if focus_range is None:
        depth = scene_range[1] - scene_range[0]
        overshoot = FOCUS_OVERSHOOT * depth
        end = scene_range[1] - faults.short * depth if faults.short else scene_range[1] + overshoot
        focus_range = (scene_range[0] - overshoot, end)
    focus_positions = faults.positions(np.linspace(focus_range[0], focus_range[1], count))
    if isinstance(kind_or_scene, Scene):
        scene = kind_or_scene
        if optics is None:
            optics = default_optics(size[0] if size else scene.size[0])
        size = size or frame_size_within(scene.size, optics, focus_positions, scene_range)
    else:
        size = size or DEFAULT_FRAME_SIZE
        optics = optics or default_optics(size[0])
        scene_size = scene_size_for(size, optics, focus_positions, scene_range)
        scene = make_scene(kind_or_scene, scene_size, seed=seed, depth_range=scene_range)
    if not noise:
        optics = optics.without_noise()
    frame_seeds = np.random.SeedSequence([seed, count]).generate_state(count)
    moved = move_part(scene, faults.part) if faults.part_at is not None else scene
    frames = tuple(
        render_frame(
            moved if faults.part_moved(i) else scene,
            float(focus),
            optics,
            seed=int(frame_seed),
            light=light * faults.light(i, count),
            out_size=size,
            shift_px=faults.shift_px(i, size[0]),
            shake_px=faults.shake_px(i, size[0]),
        )
        for i, (focus, frame_seed) in enumerate(zip(focus_positions, frame_seeds, strict=True))
    )
    return Stack(scene, optics, frames, seed)


def scene_size_for(
    frame_size: Size,
    optics: Optics,
    focus_positions: NDArray[np.float64],
    depth_range: tuple[float, float],
) -> Size:
    """Scene size whose warp into every frame stays inside the scene (to 4 σ of jitter)."""
    scale = _smallest_scale(optics, focus_positions, depth_range)
    margin = _margin_px(frame_size, optics)
    width, height = (math.ceil(side / scale) + 2 * margin for side in frame_size)
    return (width + width % 2, height + height % 2)


def frame_size_within(
    scene_size: Size,
    optics: Optics,
    focus_positions: NDArray[np.float64],
    depth_range: tuple[float, float],
) -> Size:
    """The largest frame size for which :func:`scene_size_for` fits in ``scene_size``."""
    scale = min(_smallest_scale(optics, focus_positions, depth_range), 1.0)
    margin = _margin_px(scene_size, optics)
    width, height = (max(16, math.floor((side - 2 * margin) * scale)) for side in scene_size)
    return (width, height)


def _smallest_scale(
    optics: Optics, focus_positions: NDArray[np.float64], depth_range: tuple[float, float]
) -> float:
    reference = optics.reference_focus_mm
    if reference is None:
        reference = 0.5 * (depth_range[0] + depth_range[1])
    scales = [optics.magnification(float(f), reference) for f in focus_positions]
    return max(min(scales), 1e-3)


def _margin_px(frame_size: Size, optics: Optics) -> int:
    # Jitter and rotation to 4 σ, plus the 2-px reach of cubic interpolation.
    rotation = math.radians(4 * optics.jitter_deg) * max(frame_size) / 2
    return math.ceil(4 * optics.jitter_px + rotation + 2)
