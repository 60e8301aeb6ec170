"""Virtual optical bench: focus stacks with a known answer.

An all-in-focus scene (colour + depth in focus-position mm) is imaged at a given focus
position through a thin-lens model with layered disc defocus, focus-dependent
magnification, jitter, flicker and sensor noise.  The ground truth is the scene warped
into a frame's geometry.

>>> stack = render_stack("bench", 9, size=(320, 240), seed=1)
>>> stack.frames[0].image.shape, stack.truth().shape
((240, 320, 3), (240, 320, 3))
"""

from rig.sim.camera import Frame, frame_transform, ground_truth, ground_truth_depth, render
from rig.sim.optics import REFERENCE_WIDTH_PX, Optics, default_optics, disc_kernel
from rig.sim.scene import DEFAULT_DEPTH_RANGE, SCENE_KINDS, Scene, make_scene
from rig.sim.stack import Stack, render_stack, scene_size_for

__all__ = [
    "DEFAULT_DEPTH_RANGE",
    "REFERENCE_WIDTH_PX",
    "SCENE_KINDS",
    "Frame",
    "Optics",
    "Scene",
    "Stack",
    "default_optics",
    "disc_kernel",
    "frame_transform",
    "ground_truth",
    "ground_truth_depth",
    "make_scene",
    "render",
    "render_stack",
    "scene_size_for",
]
