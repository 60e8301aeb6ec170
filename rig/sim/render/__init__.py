"""The virtual optical bench: focus stacks rendered with a known answer.

An all-in-focus scene (colour + depth in focus-position mm) is imaged at a given focus
position through a thin-lens model with layered disc defocus, focus-dependent
magnification, jitter, flicker and sensor noise.  The ground truth is the scene warped
into a frame's geometry.  One module per stage: ``texture``/``shapes``/``subjects`` →
``scene`` → ``optics`` → ``defocus`` (with ``depth_index``, ``slice_cover``, ``layers``,
``radiance``) → ``imaging`` (one frame) → ``stack``.

>>> stack = render_stack("bench", 9, size=(320, 240), seed=1)
>>> stack.frames[0].image.shape, stack.truth().shape
((240, 320, 3), (240, 320, 3))
"""

from rig.sim.render.imaging import (
    RenderedFrame,
    frame_transform,
    ground_truth,
    ground_truth_depth,
    render_frame,
)
from rig.sim.render.optics import REFERENCE_WIDTH_PX, Optics, default_optics, disc_kernel
from rig.sim.render.scene import DEFAULT_DEPTH_RANGE, SCENE_KINDS, Scene, make_scene
from rig.sim.render.stack import Stack, render_stack, scene_size_for

__all__ = [
    "DEFAULT_DEPTH_RANGE",
    "REFERENCE_WIDTH_PX",
    "SCENE_KINDS",
    "Optics",
    "RenderedFrame",
    "Scene",
    "Stack",
    "default_optics",
    "disc_kernel",
    "frame_transform",
    "ground_truth",
    "ground_truth_depth",
    "make_scene",
    "render_frame",
    "render_stack",
    "scene_size_for",
]
