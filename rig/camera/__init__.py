"""Cameras: the interface (:mod:`.base`) and picamera2 (:mod:`.picam`).

The simulated camera is part of the hardware twin, :mod:`rig.sim.hardware.camera`.
The implementations are imported from their modules so that importing this
package needs neither picamera2 nor the renderer.
"""

from rig.camera.base import Camera, CameraError, CameraFrame, ExposureSettings

__all__ = ["Camera", "CameraError", "CameraFrame", "ExposureSettings"]
