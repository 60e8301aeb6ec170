"""The Raspberry Pi camera through picamera2, set up the way that holds up on real rigs.

* **One configuration for the whole session**: a full-resolution ``main``
  stream in ``BGR888`` plus a small ``lores`` stream for the preview.  Switching
  modes per frame costs ~0.5 s each time and fragments CMA memory until
  allocations fail hours into a night.
* ``BGR888`` arrives as R, G, B bytes in memory (libcamera names formats by
  little-endian words): numpy gets RGB order with no conversion.
* Fixed exposure: ``ExposureTime`` / ``AnalogueGain`` / ``ColourGains`` go into
  the configuration's controls (or ``set_controls`` later); setting them turns
  AE/AWB off.  :meth:`PiCamera.lock_exposure` switches AE back on, waits for frames
  that show its own settled choice (:mod:`rig.camera.ae_settle`: not the frames still
  carrying the old controls, ``AeState`` Converged where libcamera reports it) and for
  white balance to stop moving (:mod:`rig.camera.awb_settle`: the Pi's AWB closes 5 %
  of the gap per run after it comes back on), then fixes exactly those values.
* After each move and settle, :meth:`PiCamera.capture` uses
  ``captured_request(flush=True)``: the first frame whose exposure *started*
  after the call, so nothing exposed while the rail moved is used; the context
  manager always gives the buffer back.  Its metadata is checked against the
  requested exposure (controls take a few frames to apply, so a few frames may
  be skipped) and a persistent mismatch is an error, not a silently wrong frame.
* Preview: the ``lores`` stream, in YUV420, goes through a JPEG encoder into an
  in-memory output that keeps only the newest JPEG.  VC4 Pis (Zero 2 W, 3, 4) need a
  YUV ``lores`` stream (picamera2's ``check_camera_config``) and have the hardware
  ``MJPEGEncoder``; a Pi 5 has no hardware encoder, so there (or with
  ``preview_encoder = "software"``) it is the software ``JpegEncoder``, which takes
  YUV420 since picamera2 0.3.26.
* A wait that times out leaves its job in picamera2's list, and ``stop()`` would queue
  behind it for ever: every timeout clears the list with ``cancel_all_and_flush()``.

``picamera2`` is imported only in :meth:`PiCamera.start`, so this module loads anywhere.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import CancelledError
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from rig.camera.ae_settle import SENSOR_DELAY_FRAMES, AeSettle, describe
from rig.camera.awb_settle import AwbSettle
from rig.camera.base import (
    Camera,
    CameraError,
    CameraFrame,
    ExposureSettings,
    exposure_state,
)

if TYPE_CHECKING:
    from rig.config import CameraConfig

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "on Raspberry Pi OS run `sudo apt install python3-picamera2` and create the "
    "virtualenv with --system-site-packages"
)


class LatestJpeg(io.BufferedIOBase):
    """Encoder output that keeps only the newest JPEG (for MJPEG streaming)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._frame: bytes | None = None
        self.frames = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        frame = bytes(data)
        with self._lock:
            self._frame = frame
            self.frames += 1
        return len(frame)

    @property
    def latest(self) -> bytes | None:
        with self._lock:
            return self._frame


def has_hardware_jpeg(picamera2: ModuleType) -> bool:
    """Whether picamera2 found a VC4 ISP (Zero 2 W, 3, 4), the only one with a hardware
    MJPEG encoder: ``Picamera2.platform``, as picamera2's own encoders/__init__.py decides."""
    platform = getattr(picamera2.Picamera2, "platform", None)
    return getattr(platform, "name", None) == "VC4"


class PiCamera(Camera):
    """A Raspberry Pi camera (HQ, Camera Module 3...) through picamera2.

    :param config: the ``[camera]`` section.
    """

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._cam: Any = None
        self._preview = LatestJpeg()
        self._encoder_name: str | None = None
        self._exposure: ExposureSettings | None = None
        self._requested_exposure_us: int | None = config.exposure_us
        self._lens_position = config.lens_position
        self._frames = 0
        self._skipped_frames = 0

    # -- life cycle --------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._cam is not None:
                return
            picamera2 = _import("picamera2")
            cfg = self.config
            try:
                Picamera2 = picamera2.Picamera2
                tuning = Picamera2.load_tuning_file(cfg.tuning_file) if cfg.tuning_file else None
                cam = Picamera2(cfg.camera_num, tuning=tuning)
            except Exception as exc:
                raise CameraError(
                    f"could not open camera {cfg.camera_num} ({exc}): check the ribbon cable, "
                    "`rpicam-hello --list-cameras`, and that no other program holds the camera"
                ) from exc
            try:
                self._configure_and_start(cam, hardware_jpeg=has_hardware_jpeg(picamera2))
            except BaseException as exc:
                _close_quietly(cam)
                if isinstance(exc, CameraError):
                    raise
                raise CameraError(f"camera {cfg.camera_num} failed to start: {exc}") from exc
            self._cam = cam

    def _configure_and_start(self, cam: Any, *, hardware_jpeg: bool) -> None:
        cfg = self.config
        encoders = _import("picamera2.encoders")
        outputs = _import("picamera2.outputs")
        choice = cfg.preview_encoder
        software = choice == "software" or (choice == "auto" and not hardware_jpeg)
        controls = dict(self._startup_controls(cam))
        configuration = cam.create_still_configuration(
            main={"size": tuple(cfg.resolution), "format": "BGR888"},
            lores={"size": tuple(cfg.preview_size), "format": "YUV420"},
            buffer_count=cfg.buffer_count,
            controls=controls,
        )
        cam.configure(configuration)
        encoder = encoders.JpegEncoder() if software else encoders.MJPEGEncoder()
        self._encoder_name = type(encoder).__name__
        cam.start_encoder(encoder, outputs.FileOutput(self._preview), name="lores")
        cam.start()

    def _startup_controls(self, cam: Any) -> Mapping[str, Any]:
        cfg = self.config
        controls: dict[str, Any] = {}
        if cfg.exposure_us is not None:
            controls["ExposureTime"] = cfg.exposure_us
        if cfg.analogue_gain is not None:
            controls["AnalogueGain"] = cfg.analogue_gain
        if cfg.colour_gains is not None:
            controls["ColourGains"] = tuple(cfg.colour_gains)
        controls.update(_auto_switches(cam, exposure=cfg.exposure_us, colour=cfg.colour_gains))
        if cfg.exposure_us and cfg.analogue_gain and cfg.colour_gains:
            self._exposure = ExposureSettings(
                cfg.exposure_us, cfg.analogue_gain, (cfg.colour_gains[0], cfg.colour_gains[1])
            )
        if cfg.lens_position is not None and "LensPosition" in cam.camera_controls:
            controls.update({"AfMode": _af_manual(), "LensPosition": cfg.lens_position})
        return controls

    def close(self) -> None:
        with self._lock:
            cam, self._cam = self._cam, None
        if cam is None:
            return
        errors: list[str] = []
        for step in (cam.stop_encoder, cam.stop, cam.close):
            try:
                step()
            except Exception as exc:  # release as much as possible
                errors.append(f"{step.__name__}: {exc}")
        if errors:
            raise CameraError("closing the camera: " + "; ".join(errors))

    # -- frames ------------------------------------------------------------

    def capture(self) -> CameraFrame:
        cam = self._started()
        wanted = self._requested_exposure_us
        tolerance = self.config.exposure_tolerance
        seen: Any = None
        # Requests queued before new controls still carry the old ones (up to buffer_count),
        # and the sensor applies a change a few frames later (see ae_settle).
        budget = max(self.config.settle_frames, self.config.buffer_count + SENSOR_DELAY_FRAMES + 1)
        for _ in range(budget):
            try:
                with cam.captured_request(flush=True, wait=self.config.capture_timeout_s) as req:
                    metadata = req.get_metadata()
                    exposure = metadata.get("ExposureTime")
                    if wanted is None or (
                        exposure is not None and abs(exposure - wanted) <= tolerance * wanted
                    ):
                        image = np.ascontiguousarray(req.make_array("main"))  # R, G, B
                        self._frames += 1
                        return _frame(image, metadata)
                    seen = exposure
                    self._skipped_frames += 1
            except TimeoutError as exc:
                _forget_jobs(cam)
                raise CameraError(
                    f"no frame from the camera within {self.config.capture_timeout_s} s: "
                    "check the sensor cable (`rpicam-hello`) and camera.capture_timeout_s"
                ) from exc
            except CancelledError as exc:
                raise _cancelled() from exc
        raise CameraError(
            f"frames keep arriving with ExposureTime {seen} µs, not the requested {wanted} µs "
            f"(±{tolerance:.0%}) after {budget} frames: the sensor mode may "
            "not allow it; check the exposure settings (or the frame-duration limits)"
        )

    def preview_jpeg(self) -> bytes | None:
        return self._preview.latest

    # -- exposure ----------------------------------------------------------

    @property
    def exposure(self) -> ExposureSettings | None:
        return self._exposure

    def lock_exposure(self) -> ExposureSettings:
        cam = self._started()
        self.unlock_exposure()
        ae = AeSettle(queued_requests=self.config.buffer_count)
        awb = AwbSettle(queued_requests=self.config.buffer_count)
        metadata = self._metadata(cam)
        while True:
            ae_settled = ae.settled(metadata)
            awb_settled = awb.settled(metadata)  # both see every frame
            if ae_settled and (awb_settled or awb.exhausted):
                break
            if not ae_settled and ae.exhausted:
                raise CameraError(
                    f"automatic exposure did not settle within {ae.frames} frames (last "
                    f"frame: {describe(metadata)}): is the light or the subject changing? "
                    "Lock again, or set a fixed exposure"
                )
            metadata = self._metadata(cam)
        if not awb_settled:  # a colour a little off beats no stack at all
            log.warning(
                "white balance still moving after %d frames (ColourGains %s): locked as it is",
                awb.frames,
                metadata.get("ColourGains"),
            )
        try:
            exposure_us = int(metadata["ExposureTime"])
            gain = float(metadata["AnalogueGain"])
            red, blue = (float(g) for g in metadata["ColourGains"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CameraError(f"the camera reported no usable exposure metadata ({exc})") from exc
        return self.set_exposure(exposure_us, gain, (red, blue))

    def set_exposure(
        self, exposure_us: int, gain: float, colour_gains: tuple[float, float]
    ) -> ExposureSettings:
        if exposure_us <= 0 or gain < 1.0 or min(colour_gains) <= 0:
            raise ValueError("exposure must be positive, gain ≥ 1 and colour gains positive")
        cam = self._started()
        red, blue = colour_gains
        settings = ExposureSettings(int(exposure_us), float(gain), (float(red), float(blue)))
        controls: dict[str, Any] = {
            "ExposureTime": settings.exposure_us,
            "AnalogueGain": settings.analogue_gain,
            "ColourGains": settings.colour_gains,
        }
        controls.update(_auto_switches(cam, exposure=True, colour=True))
        cam.set_controls(controls)
        self._exposure = settings
        self._requested_exposure_us = settings.exposure_us
        return settings

    def unlock_exposure(self) -> None:
        cam = self._started()
        cam.set_controls(dict(_automatic(cam)))
        self._exposure = None
        self._requested_exposure_us = None

    # -- lens --------------------------------------------------------------

    @property
    def lens_position(self) -> float | None:
        cam = self._cam
        if cam is None or "LensPosition" not in cam.camera_controls:
            return None
        if self._lens_position is None:
            value = self._metadata(cam).get("LensPosition")
            return None if value is None else float(value)
        return self._lens_position

    @lens_position.setter
    def lens_position(self, dioptres: float) -> None:
        cam = self._started()
        if "LensPosition" not in cam.camera_controls:
            raise CameraError(
                f"camera {self.config.camera_num} has no focus motor (no LensPosition "
                "control): focus with the rail instead"
            )
        cam.set_controls({"AfMode": _af_manual(), "LensPosition": float(dioptres)})
        self._lens_position = float(dioptres)

    # -- status ------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        cam = self._cam
        exposure = self._exposure
        return {
            "kind": "picamera2",
            "started": cam is not None,
            "model": None if cam is None else cam.camera_properties.get("Model"),
            "resolution": list(self.config.resolution),
            "preview_size": list(self.config.preview_size),
            "preview_encoder": self._encoder_name,
            "exposure": exposure_state(exposure),
            "frames": self._frames,
            "skipped_frames": self._skipped_frames,
            "preview_frames": self._preview.frames,
        }

    def _started(self) -> Any:
        cam = self._cam
        if cam is None:
            raise CameraError("the camera is not started (call start())")
        return cam

    def _metadata(self, cam: Any) -> Mapping[str, Any]:
        try:
            metadata: Mapping[str, Any] = cam.capture_metadata(wait=self.config.capture_timeout_s)
        except TimeoutError as exc:
            _forget_jobs(cam)
            raise CameraError(
                f"no frame metadata within {self.config.capture_timeout_s} s: "
                "check the sensor cable (`rpicam-hello`)"
            ) from exc
        except CancelledError as exc:
            raise _cancelled() from exc
        return metadata


def _frame(image: np.ndarray, metadata: Mapping[str, Any]) -> CameraFrame:
    gains = metadata.get("ColourGains") or (0.0, 0.0)
    lens = metadata.get("LensPosition")
    return CameraFrame(
        image=image,
        exposure_us=int(metadata.get("ExposureTime", 0)),
        analogue_gain=float(metadata.get("AnalogueGain", 0.0)),
        colour_gains=(float(gains[0]), float(gains[1])),
        lens_position=None if lens is None else float(lens),
        sensor_timestamp_ns=int(metadata.get("SensorTimestamp", 0)),
        metadata=dict(metadata),
    )


def _cancelled() -> CameraError:
    """Another thread's wait timed out and flushed every listed job, this one's too
    (``cancel_all_and_flush``: ``job.py`` ``Job.cancel`` makes its result raise)."""
    return CameraError("the camera stopped answering while this frame was awaited; try again")


def _forget_jobs(cam: Any) -> None:
    """After a wait timed out: its job is still listed (picamera2.py dispatch_functions waits
    on it with a timeout but leaves it there), and ``stop()``, itself a job queued behind it
    with no timeout, would wait for ever.  ``cancel_all_and_flush()`` exists for this."""
    cam.cancel_all_and_flush()


def _automatic(cam: Any) -> Mapping[str, Any]:
    """Controls that give exposure and white balance back to AE/AWB.

    Zero values as well as the enables: picamera2 sends everything set since the last
    queued request together, and in that request a fixed ``ExposureTime``/``AnalogueGain``
    wins over ``AeEnable`` (libcamera ``Camera::patchControlList``) and fixed
    ``ColourGains`` over ``AwbEnable`` (the Pi IPA's ``applyControls``).  Zero means
    automatic for each (picamera2 ``request.py``, libcamera ``ipa_base.cpp``).
    """
    wanted: dict[str, Any] = {
        "AeEnable": True,
        "ExposureTime": 0,
        "AnalogueGain": 0.0,
        "AwbEnable": True,
        "ColourGains": (0.0, 0.0),
    }
    available = cam.camera_controls
    return {name: value for name, value in wanted.items() if name in available}


def _auto_switches(cam: Any, *, exposure: object, colour: object) -> Mapping[str, Any]:
    """AE/AWB enables for cameras that advertise them: off when values are fixed."""
    available = cam.camera_controls
    switches: dict[str, Any] = {}
    if "AeEnable" in available:
        switches["AeEnable"] = exposure is None
    if "AwbEnable" in available:
        switches["AwbEnable"] = colour is None
    return switches


def _af_manual() -> Any:
    try:
        return importlib.import_module("libcamera").controls.AfModeEnum.Manual
    except (ImportError, AttributeError):
        return 0  # libcamera's AfModeManual


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise CameraError(f"{name} is not available ({exc}): {INSTALL_HINT}") from exc


def _close_quietly(cam: Any) -> None:
    with contextlib.suppress(Exception):  # already failing: the first error is the one to report
        cam.close()
