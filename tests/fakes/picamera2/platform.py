"""Fake ``picamera2.platform``.

The real module (picamera2/platform.py) asks each ``/dev/video*`` for its card name at
import: ``pispbe`` (the Pi 5's ISP) means PISP, anything else VC4, also the default.
Here a test chooses with ``Picamera2.platform`` (the class attribute picamera2.py keeps
the answer in).
"""

from __future__ import annotations

from enum import Enum


class Platform(Enum):
    VC4 = 0  # Zero 2 W, 3, 4, CM4: bcm2835-isp, hardware H.264/MJPEG encoders
    PISP = 1  # Pi 5, CM5: no hardware video encoders


def get_platform() -> Platform:
    from picamera2 import Picamera2

    return Picamera2.platform
