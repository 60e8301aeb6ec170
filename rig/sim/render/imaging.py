"""Imaging: from a scene to one rendered frame — defocus, then rail geometry, then the sensor.

Pipeline for one frame (see :func:`render_frame`):

1. layered defocus in linear light, in scene geometry (:mod:`rig.sim.render.defocus`);
2. exposure: × flicker × light, clipped at sensor full scale, encoded to 8-bit values;
3. geometry: one affine warp (scale about the centre for the focus-dependent
   magnification, plus sub-pixel jitter) from scene pixels to sensor pixels;
4. sensor noise (shot + read), rounding to uint8.

The ground truth uses the same warp and interpolation on the all-in-focus colour, so a
render with ideal optics equals it up to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.sim.render.defocus import defocus
from rig.sim.render.faults import motion_blur
from rig.sim.render.gaussian import standard_normal
from rig.sim.render.optics import Optics
from rig.sim.render.radiance import encode
from rig.sim.render.scene import Scene
from rig.sim.render.texture import Size

Transform = NDArray[np.float64]
# Both frames and ground truth are warped with these, so they agree pixel for pixel.
INTERPOLATION = cv2.INTER_CUBIC
# Where a warp samples outside the scene, the scene is mirrored (render stacks from a
# slightly larger scene, see rig.sim.render.stack, and this never happens).
BORDER = cv2.BORDER_REFLECT_101


@dataclass(frozen=True, eq=False)
class RenderedFrame:
    """One frame of a rendered stack (not a capture: see :class:`rig.camera.CameraFrame`).

    ``image``: H×W×3 uint8 RGB.  ``focus_mm``: focus position it was taken at.
    ``transform``: 2×3 affine, scene pixel coordinates → this frame's pixel coordinates
    (OpenCV pixel-centre convention), including magnification and jitter.
    ``gain``: exposure multiplier applied to linear light (flicker × light).
    """

    image: NDArray[np.uint8]
    focus_mm: float
    transform: Transform
    gain: float

    @property
    def size(self) -> Size:
        return (self.image.shape[1], self.image.shape[0])


def render_frame(
    scene: Scene,
    focus_mm: float,
    optics: Optics,
    *,
    seed: int,
    light: float = 1.0,
    out_size: Size | None = None,
    shift_px: tuple[float, float] = (0.0, 0.0),
    shake_px: float = 0.0,
) -> RenderedFrame:
    """Image ``scene`` with the focus at ``focus_mm``.

    ``seed`` drives the jitter, flicker and noise of this frame.  ``light`` scales the
    exposure (0 = LED off: a dark frame with only read noise).  ``out_size`` (w, h)
    defaults to the scene size.  ``shift_px`` moves the subject in the frame (beyond the
    jitter); ``shake_px`` blurs the frame along a line that long (vibration).
    """
    rng = np.random.default_rng(seed)
    out_size = out_size or scene.size
    gain = max(0.0, light * (1.0 + optics.flicker * rng.standard_normal()))
    shift = rng.normal(0.0, optics.jitter_px, 2) + np.asarray(shift_px, np.float64)
    rotation_deg = optics.jitter_deg * rng.standard_normal()
    reference = optics.reference_focus_mm
    if reference is None:
        reference = 0.5 * (scene.depth_range[0] + scene.depth_range[1])
    scale = optics.magnification(focus_mm, reference)
    transform = frame_transform(scene.size, out_size, scale, rotation_deg, (shift[0], shift[1]))
    if gain > 0:
        sensor = encode(defocus(scene, focus_mm, optics, exposure=gain), optics.gamma)
    else:
        sensor = np.zeros((scene.size[1], scene.size[0], 3), np.float32)
    warped = cv2.warpAffine(sensor, transform, out_size, flags=INTERPOLATION, borderMode=BORDER)
    if shake_px > 0:
        warped = motion_blur(np.asarray(warped, np.float32), shake_px)
    image = _add_sensor_noise(np.asarray(warped, np.float32), optics, rng)
    return RenderedFrame(image, float(focus_mm), transform, gain)


def frame_transform(
    scene_size: Size,
    out_size: Size,
    scale: float,
    rotation_deg: float = 0.0,
    shift_px: tuple[float, float] = (0.0, 0.0),
) -> Transform:
    """Affine map from scene pixels to frame pixels: the scene centre lands on the frame
    centre (plus ``shift_px``), scaled by ``scale`` and rotated by ``rotation_deg``."""
    scene_centre = np.array([(scene_size[0] - 1) / 2, (scene_size[1] - 1) / 2])
    frame_centre = np.array([(out_size[0] - 1) / 2, (out_size[1] - 1) / 2])
    angle = math.radians(rotation_deg)
    linear = scale * np.array(
        [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]
    )
    offset = frame_centre + np.asarray(shift_px) - linear @ scene_centre
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


def ground_truth(scene: Scene, transform: Transform, out_size: Size) -> NDArray[np.uint8]:
    """The all-in-focus colour (uint8 RGB) in the geometry of a frame with ``transform``:
    no blur, noise or flicker, warped with the same interpolation as frames."""
    warped = cv2.warpAffine(
        scene.colour, transform, out_size, flags=INTERPOLATION, borderMode=BORDER
    )
    return np.asarray(warped, np.uint8)


def ground_truth_depth(scene: Scene, transform: Transform, out_size: Size) -> NDArray[np.float32]:
    """The depth map (focus-position mm) in the geometry of a frame with ``transform``.

    Nearest-neighbour sampling: every value is the depth of a real surface, never a blend
    across an occlusion edge."""
    warped = cv2.warpAffine(
        scene.depth, transform, out_size, flags=cv2.INTER_NEAREST, borderMode=BORDER
    )
    return np.asarray(warped, np.float32)


def _add_sensor_noise(
    signal: NDArray[np.float32], optics: Optics, rng: np.random.Generator
) -> NDArray[np.uint8]:
    """Shot + read noise around ``signal`` (DN), rounded and clipped to 8 bits."""
    np.clip(signal, 0.0, 255.0, out=signal)
    clean = np.asarray(cv2.convertScaleAbs(signal), np.uint8)  # rounds; signal is ≥ 0
    if optics.read_noise_dn <= 0 and optics.shot_noise_dn <= 0:
        return clean
    sigma = cv2.LUT(clean, optics.noise_sigma_dn(np.arange(256, dtype=np.float32)))
    noise = standard_normal(rng, signal.shape)
    noisy = cv2.add(signal, cv2.multiply(noise, sigma))
    return np.asarray(cv2.convertScaleAbs(np.maximum(noisy, np.float32(0.0))), np.uint8)
