"""The camera interface every implementation follows, and the frame it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


class CameraError(RuntimeError):
    """The camera failed; the message says what to check or install."""


@dataclass(frozen=True)
class ExposureSettings:
    """Fixed exposure: shutter time, analogue gain and (red, blue) white-balance gains."""

    exposure_us: int
    analogue_gain: float
    colour_gains: tuple[float, float]


def exposure_state(settings: ExposureSettings | None) -> dict[str, Any]:
    """The exposure as clients see it, in one shape everywhere (status, exposure route):
    ``mode`` ``auto`` (values ``None``) or ``fixed`` with its values."""
    return {
        "mode": "auto" if settings is None else "fixed",
        "exposure_us": None if settings is None else settings.exposure_us,
        "gain": None if settings is None else settings.analogue_gain,
        "colour_gains": None if settings is None else list(settings.colour_gains),
    }


@dataclass(frozen=True, eq=False)
class CameraFrame:
    """One captured frame: an H×W×3 uint8 array in R, G, B order plus its metadata."""

    image: NDArray[np.uint8]
    exposure_us: int
    analogue_gain: float
    colour_gains: tuple[float, float]
    lens_position: float | None
    sensor_timestamp_ns: int
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return (self.image.shape[1], self.image.shape[0])


class Camera(ABC):
    """A still camera for focus stacking, with a cheap MJPEG preview.

    Life cycle: construct, :meth:`start`, capture..., :meth:`close` (or use it
    as a context manager, which starts it).  Exposure is automatic until
    :meth:`lock_exposure` (freeze the settled automatic values) or
    :meth:`set_exposure`; a stack needs it fixed so every frame matches.
    """

    @abstractmethod
    def start(self) -> None:
        """Open and start the camera (idempotent)."""

    @abstractmethod
    def close(self) -> None:
        """Stop and release the camera (idempotent)."""

    @abstractmethod
    def capture(self) -> CameraFrame:
        """A frame exposed entirely after this call (nothing from before a rail move)."""

    @abstractmethod
    def preview_jpeg(self) -> bytes | None:
        """The latest low-resolution preview JPEG (``None`` before the first one)."""

    @abstractmethod
    def lock_exposure(self) -> ExposureSettings:
        """Read the settled automatic exposure, gain and colour gains, then fix them."""

    @abstractmethod
    def unlock_exposure(self) -> None:
        """Return to automatic exposure and white balance."""

    @abstractmethod
    def set_exposure(
        self, exposure_us: int, gain: float, colour_gains: tuple[float, float]
    ) -> ExposureSettings:
        """Fix exposure time (µs), analogue gain and (red, blue) colour gains."""

    @property
    @abstractmethod
    def exposure(self) -> ExposureSettings | None:
        """The fixed exposure, or ``None`` while automatic."""

    @property
    @abstractmethod
    def lens_position(self) -> float | None:
        """Focus motor position in dioptres (Camera Module 3); ``None``: no motor."""

    @lens_position.setter
    @abstractmethod
    def lens_position(self, dioptres: float) -> None: ...

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """A JSON-ready summary for the status page."""

    def subject_range_mm(self) -> tuple[float, float] | None:
        """Rail positions (near, far) between which the camera knows its subject is in
        focus: the simulated bench knows its scene; a real camera knows nothing."""
        return None

    def __enter__(self) -> Camera:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
