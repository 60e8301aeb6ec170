"""The simulated camera: renders the virtual scene where the carriage really is.

Focus comes from the simulated bench's carriage (which follows the STEP/DIR
pins, not the rail's bookkeeping) and light from the room plus the LED pin's PWM level,
so a frame is dim with the LED off (dark in a dark room, ``sim.ambient = 0``) and
blurred when the rail lies about where it is.

Exposure model: automatic exposure "settles" at ``AUTO`` (10 ms, gain 1);
fixing other values scales the light by exposure × gain relative to that.
The lens position is only recorded (the bench camera has no focus motor).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from rig.camera.base import Camera, CameraError, CameraFrame, ExposureSettings, exposure_state
from rig.sim.hardware.faults import LiveFaults
from rig.sim.render import (
    DEFAULT_DEPTH_RANGE,
    Optics,
    default_optics,
    make_scene,
    render_frame,
    scene_size_for,
)
from rig.sim.render.faults import move_part
from rig.sim.render.faults import parse as parse_faults

if TYPE_CHECKING:
    from rig.config import SimConfig
    from rig.sim.hardware.bench import SimBench
    from rig.sim.render import Scene

AUTO = ExposureSettings(exposure_us=10_000, analogue_gain=1.0, colour_gains=(2.0, 1.6))
PREVIEW_MIN_INTERVAL_S = 0.1  # re-render the preview at most ~10 times a second
JPEG_QUALITY = 80


class SimCamera(Camera):
    """A camera on the simulated bench.

    :param bench: the :class:`~rig.sim.hardware.bench.SimBench` whose carriage and LED it sees.
    :param config: the ``[sim]`` section (resolution, preview size, scene, seed, noise).
    :param focus_range: rail positions (mm) the frames must look right at; the scene is
        made large enough that magnification never pulls its edge into a frame.
    """

    def __init__(
        self,
        bench: SimBench,
        config: SimConfig,
        *,
        focus_range: tuple[float, float] = (-1, 51),
        clock: Callable[[], float] = time.monotonic,  # for the preview's refresh interval
    ) -> None:
        self.bench = bench
        self._clock = clock
        self.config = config
        self.focus_range = focus_range
        self._lock = threading.Lock()
        self._preview_lock = threading.Lock()
        self._started = False
        self._scene: Scene | None = None
        self._preview_scene: Scene | None = None
        self._optics: Optics | None = None
        self._preview_optics: Optics | None = None
        self._exposure: ExposureSettings | None = None
        self._lens_position: float | None = None
        self._seeds = itertools.count(config.seed * 1_000_003 + 1)
        self._preview: tuple[float, bytes] | None = None
        self._frames = 0
        self._faults = LiveFaults(parse_faults(config.faults), _subject_depth())
        self._moved: Scene | None = None  # the scene with a part moved (sim.faults part@K)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            cfg = self.config
            self._optics = self._noisy(default_optics(cfg.resolution[0]))
            self._preview_optics = self._noisy(default_optics(cfg.preview_size[0]))
            try:
                self._scene = self._make_scene(cfg.resolution, self._optics)
                self._preview_scene = self._make_scene(cfg.preview_size, self._preview_optics)
            except ValueError as exc:
                raise CameraError(f"simulated camera: {exc} (check sim.scene)") from exc
            self._started = True

    def _make_scene(self, frame_size: tuple[int, int], optics: Optics) -> Scene:
        positions = np.array(self.focus_range, np.float64)
        size = scene_size_for(frame_size, optics, positions, DEFAULT_DEPTH_RANGE)
        return make_scene(self.config.scene, size=size, seed=self.config.seed)

    def _noisy(self, optics: Optics) -> Optics:
        scale = self.config.noise
        return replace(
            optics,
            read_noise_dn=optics.read_noise_dn * scale,
            shot_noise_dn=optics.shot_noise_dn * scale,
        )

    def close(self) -> None:
        with self._lock:
            self._started = False
            self._scene = self._preview_scene = self._moved = None

    def capture(self) -> CameraFrame:
        with self._lock:
            scene, optics = self._scene, self._optics
            if scene is None or optics is None:
                raise CameraError("the simulated camera is not started (call start())")
            settings = self._exposure or AUTO
            if self.config.honour_exposure:
                time.sleep(settings.exposure_us / 1e6)
            focus_mm = self.bench.carriage_mm  # sampled when the exposure ends
            light = self.bench.illumination * self._exposure_scale(settings)
            seed = next(self._seeds)
            fault = self._faults.frame(focus_mm, self.config.resolution[0])
            if fault.part_moved:
                if self._moved is None:
                    self._moved = move_part(scene, self._faults.faults.part)
                scene = self._moved
        frame = render_frame(
            scene,
            fault.focus_mm,
            optics,
            seed=seed,
            light=light * fault.light,
            out_size=self.config.resolution,
            shift_px=fault.shift_px,
            shake_px=fault.shake_px,
        )
        self._frames += 1
        return CameraFrame(
            image=frame.image,
            exposure_us=settings.exposure_us,
            analogue_gain=settings.analogue_gain,
            colour_gains=settings.colour_gains,
            lens_position=self._lens_position,
            sensor_timestamp_ns=time.monotonic_ns(),
            metadata={
                "ExposureTime": settings.exposure_us,
                "AnalogueGain": settings.analogue_gain,
                "ColourGains": settings.colour_gains,
                "LensPosition": self._lens_position,
                "SimFocusMm": focus_mm,
                "SimTransform": frame.transform.tolist(),
                "SimLight": light,
            },
        )

    def ground_truth(self, transform: Any) -> np.ndarray:
        """The all-in-focus image a frame with ``transform`` (its ``SimTransform``) shows:
        the answer a stack of this scene should reach."""
        from rig.sim.render import ground_truth

        if self._scene is None:
            raise CameraError("the simulated camera is not started (call start())")
        return ground_truth(self._scene, np.asarray(transform, np.float64), self.config.resolution)

    def ground_truth_depth(self, transform: Any) -> np.ndarray:
        """The depth map (rail mm at which each pixel is sharp) in the geometry of a frame
        with ``transform``: where a frame taken at x mm is in focus."""
        from rig.sim.render import ground_truth_depth

        if self._scene is None:
            raise CameraError("the simulated camera is not started (call start())")
        return ground_truth_depth(
            self._scene, np.asarray(transform, np.float64), self.config.resolution
        )

    def preview_jpeg(self) -> bytes | None:
        with self._preview_lock:
            now = self._clock()
            if self._preview is not None and now - self._preview[0] < PREVIEW_MIN_INTERVAL_S:
                return self._preview[1]
            scene, optics = self._preview_scene, self._preview_optics
            if scene is None or optics is None:
                return None
            light = self.bench.illumination * self._exposure_scale(self._exposure or AUTO)
            frame = render_frame(
                scene,
                self.bench.carriage_mm,
                optics,
                seed=next(self._seeds),
                light=light,
                out_size=self.config.preview_size,
            )
            bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)  # OpenCV encodes BGR
            ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                return self._preview[1] if self._preview else None
            self._preview = (now, encoded.tobytes())
            return self._preview[1]

    @property
    def exposure(self) -> ExposureSettings | None:
        return self._exposure

    def lock_exposure(self) -> ExposureSettings:
        self._exposure = AUTO
        self._faults.begin()  # a stack fixes its exposure before its first frame
        return AUTO

    def unlock_exposure(self) -> None:
        self._exposure = None

    def set_exposure(
        self, exposure_us: int, gain: float, colour_gains: tuple[float, float]
    ) -> ExposureSettings:
        if exposure_us <= 0 or gain < 1.0 or min(colour_gains) <= 0:
            raise ValueError("exposure must be positive, gain ≥ 1 and colour gains positive")
        red, blue = colour_gains
        self._exposure = ExposureSettings(int(exposure_us), float(gain), (float(red), float(blue)))
        self._faults.begin()
        return self._exposure

    @property
    def lens_position(self) -> float | None:
        return self._lens_position

    @lens_position.setter
    def lens_position(self, dioptres: float) -> None:
        self._lens_position = float(dioptres)

    def status(self) -> dict[str, Any]:
        return {
            "kind": "simulated",
            "started": self._started,
            "scene": self.config.scene,
            "resolution": list(self.config.resolution),
            "preview_size": list(self.config.preview_size),
            "focus_mm": round(self.bench.carriage_mm, 6),
            "light": self.bench.light_level,
            "illumination": round(self.bench.illumination, 4),
            "exposure": exposure_state(self._exposure),
            "frames": self._frames,
        }

    def subject_range_mm(self) -> tuple[float, float] | None:
        scene = self._scene
        return None if scene is None else scene.depth_range

    @staticmethod
    def _exposure_scale(settings: ExposureSettings) -> float:
        return (settings.exposure_us * settings.analogue_gain) / (
            AUTO.exposure_us * AUTO.analogue_gain
        )


def _subject_depth() -> float:
    near, far = DEFAULT_DEPTH_RANGE
    return far - near
