"""A fake ``picamera2``: records calls, returns canned frames and metadata.

Behaves like the real library where the rig depends on it:

* ``create_still_configuration`` returns a dict shaped like picamera2's;
* controls take ``CONTROL_DELAY`` frames to reach the frame metadata;
* ``captured_request(flush=True)`` only returns a frame whose exposure started
  after the call (``SensorTimestamp - 1000 * ExposureTime >= call time``);
* a ``BGR888`` stream's array holds R, G, B bytes in that order;
* ``wait=<seconds>`` times out with ``TimeoutError`` when ``stall`` is set, and the job
  stays listed (picamera2.py dispatch_functions) until ``cancel_all_and_flush()``;
  ``stop()`` queues behind it and, where the real one would then wait for ever, raises
  :class:`StopWouldHang`;
* ``configure`` runs picamera2.py check_camera_config's rules: on VC4 (``platform``) the
  ``lores`` stream must be YUV; the encoders refuse formats they cannot take.

Class attributes steer a test: ``fail_open``, ``stall``, ``exposure_offset_us``,
``with_focus_motor``, ``platform``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from .platform import Platform

CONTROL_DELAY = 2  # frames before set_controls shows in metadata (as on real sensors)
RED, GREEN, BLUE = 200, 100, 50
AUTO_METADATA = {
    "ExposureTime": 12_000,
    "AnalogueGain": 2.0,
    "ColourGains": (1.9, 1.5),
    "LensPosition": 3.5,
    "FrameDuration": 100_000,
    "AeLocked": True,
}
# picamera2/formats.py
YUV_FORMATS = {"NV21", "NV12", "YUV420", "YVU420", "YVYU", "YUYV", "UYVY", "VYUY"}
RGB_FORMATS = {"BGR888", "RGB888", "XBGR8888", "XRGB8888", "RGB161616", "BGR161616"}


class StopWouldHang(AssertionError):
    """The real ``stop()`` would block here for ever (the suite must not)."""


class FakeRequest:
    def __init__(self, camera: Picamera2, metadata: dict[str, Any]) -> None:
        self.camera = camera
        self.metadata = metadata
        self.released = False

    def get_metadata(self) -> dict[str, Any]:
        return dict(self.metadata)

    def make_array(self, name: str) -> np.ndarray:
        stream = self.camera.configured[name]
        width, height = stream["size"]
        assert stream["format"] == "BGR888", "the fake only renders BGR888"
        image = np.empty((height, width, 3), np.uint8)
        image[...] = (RED, GREEN, BLUE)  # BGR888 is R, G, B in memory
        return image

    def release(self) -> None:
        assert not self.released, "request released twice"
        self.released = True
        self.camera.released += 1


class Picamera2:
    instances: ClassVar[list[Picamera2]] = []
    fail_open: ClassVar[Exception | None] = None
    stall: ClassVar[bool] = False
    exposure_offset_us: ClassVar[int] = 0
    with_focus_motor: ClassVar[bool] = True
    platform: ClassVar[Platform] = Platform.VC4  # Picamera2.platform

    def __init__(self, camera_num: int = 0, tuning: Any = None) -> None:
        if Picamera2.fail_open is not None:
            raise Picamera2.fail_open
        Picamera2.instances.append(self)
        self.camera_num = camera_num
        self.tuning = tuning
        self.camera_properties = {"Model": "imx477"}
        self.camera_controls: dict[str, tuple[Any, Any, Any]] = {
            "ExposureTime": (100, 600_000_000, None),
            "AnalogueGain": (1.0, 22.0, None),
            "ColourGains": (0.0, 32.0, None),
            "AeEnable": (False, True, None),
            "AwbEnable": (False, True, None),
        }
        if Picamera2.with_focus_motor:
            self.camera_controls["LensPosition"] = (0.0, 15.0, 1.0)
            self.camera_controls["AfMode"] = (0, 2, 0)
        self.configure_calls: list[dict[str, Any]] = []
        self.configured: dict[str, Any] = {}
        self.control_history: list[dict[str, Any]] = []
        self.encoders: list[tuple[Any, Any, str | None]] = []
        self.capture_calls: list[dict[str, Any]] = []
        self.events: list[str] = []
        self.started = False
        self.closed = False
        self.released = 0
        self.deadlocked = False
        self._job_list: list[str] = []  # jobs whose wait timed out, still listed
        self._event_loop_running = False
        self._pending: list[tuple[int, dict[str, Any]]] = []  # (frame due, controls)
        self._applied: dict[str, Any] = {}
        self._frame = 0

    @staticmethod
    def load_tuning_file(name: str) -> dict[str, Any]:
        return {"tuning": name}

    def create_still_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        buffer_count: int = 1,
        controls: dict[str, Any] | None = None,
        display: str | None = None,
        encode: str | None = None,
        queue: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The user's stream settings over the defaults (_make_initial_stream_config)."""
        self.events.append("create_still_configuration")
        return {
            "use_case": "still",
            "main": {"format": "BGR888", "size": (4056, 3040), **(main or {})},
            "lores": None if lores is None else {"format": "YUV420", **lores},
            "raw": raw,
            "buffer_count": buffer_count,
            "queue": queue,
            "controls": dict(controls or {}),
            "display": display,
            "encode": encode,
        }

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        self.events.append("create_video_configuration")
        return self.create_still_configuration(**kwargs)

    def check_camera_config(self, config: dict[str, Any]) -> None:
        """check_camera_config / check_stream_config."""
        self._check_stream(config["main"], "main")
        lores = config.get("lores")
        if lores is not None:
            self._check_stream(lores, "lores")
            (main_w, main_h), (lores_w, lores_h) = config["main"]["size"], lores["size"]
            if lores_w > main_w or lores_h > main_h:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if Picamera2.platform == Platform.VC4 and lores["format"] not in YUV_FORMATS:
                raise RuntimeError("lores stream must be YUV")

    @staticmethod
    def _check_stream(stream: dict[str, Any], name: str) -> None:
        fmt, size = stream["format"], stream["size"]
        if fmt not in YUV_FORMATS | RGB_FORMATS:
            raise RuntimeError(f"Bad format {fmt} in stream {name}")
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError(f"size in {name} stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")

    def configure(self, config: dict[str, Any]) -> None:
        """configure_ checks the configuration first."""
        self.check_camera_config(config)
        self.events.append("configure")
        self.configure_calls.append(config)
        self.configured = config
        self._applied = dict(config.get("controls", {}))

    def start_encoder(
        self,
        encoder: Any,
        output: Any = None,
        pts: Any = None,
        quality: Any = None,
        name: str | None = None,
    ) -> None:
        """start_encoder: the stream must exist; the encoder gets its format and starts."""
        if not self.configured:
            raise RuntimeError("Camera has not been configured")
        name = name or self.configured.get("encode")
        if name is None or self.configured.get(name) is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        if output is not None:
            encoder.output = output
        encoder.name = name
        encoder.start(self.configured[name]["format"])
        self.events.append("start_encoder")
        self.encoders.append((encoder, output, name))

    def stop_encoder(self, encoders: Any = None) -> None:
        self.events.append("stop_encoder")

    def start(self, show_preview: bool = False) -> None:
        """start → start_preview(False): a NullPreview thread runs the event loop."""
        self.events.append("start")
        self._event_loop_running = show_preview is not None
        self.started = True
        self._produce_preview()

    def stop(self) -> None:
        """With the event loop running, stop sends stop_ as a job (dispatch_functions,
        wait=True, no timeout) behind the jobs already listed: a job that no frame will
        finish keeps it waiting for ever."""
        if not self.started:
            return
        self.events.append("stop")
        if self._event_loop_running:
            while self._job_list:
                if Picamera2.stall:
                    self.deadlocked = True
                    raise StopWouldHang(
                        "Picamera2.stop() would wait for ever: a timed-out job is still "
                        "listed ahead of it (cancel_all_and_flush() clears it)"
                    )
                self._job_list.pop(0)
                self._next_metadata()  # the stale job takes a frame first
        self.started = False

    def close(self) -> None:
        """close: stop_preview (the event loop ends), then stop, which is now direct."""
        if self.closed:
            return
        self._event_loop_running = False
        self.stop()
        self.events.append("close")
        self.closed = True

    def set_controls(self, controls: dict[str, Any]) -> None:
        unknown = set(controls) - set(self.camera_controls)
        if unknown:
            raise RuntimeError(f"Control {sorted(unknown)[0]} is not advertised by libcamera")
        self.control_history.append(dict(controls))
        self._pending.append((self._frame + CONTROL_DELAY, dict(controls)))

    def cancel_all_and_flush(self) -> None:
        """cancel_all_and_flush: every listed job is cancelled and the list cleared."""
        self.events.append("cancel_all_and_flush")
        self._job_list = []

    # -- frames ---------------------------------------------------------------

    def _next_metadata(self) -> dict[str, Any]:
        self._frame += 1
        due = [c for frame, c in self._pending if frame <= self._frame]
        self._pending = [(f, c) for f, c in self._pending if f > self._frame]
        for controls in due:
            self._applied.update(controls)
        metadata = dict(AUTO_METADATA)
        for key in ("ExposureTime", "AnalogueGain", "ColourGains", "LensPosition"):
            if self._applied.get(key):  # 0 means "automatic"
                metadata[key] = self._applied[key]
        if self._applied.get("ExposureTime"):
            metadata["ExposureTime"] += Picamera2.exposure_offset_us
            metadata["AeLocked"] = False
        metadata["SensorTimestamp"] = time.monotonic_ns() + 1000 * metadata["ExposureTime"]
        return metadata

    def _wait(self, wait: Any, job: str) -> None:
        """dispatch_functions: ``wait`` in seconds raises TimeoutError (Job.get_result)
        and leaves the job listed; True/None would wait for ever."""
        if Picamera2.stall:
            if isinstance(wait, (int, float)) and not isinstance(wait, bool):
                self._job_list.append(job)
                raise TimeoutError()
            raise AssertionError("the rig must never wait forever for a frame")

    def _produce_preview(self) -> None:
        for _encoder, output, _name in self.encoders:
            output.fileoutput.write(b"\xff\xd8fake-jpeg-%d\xff\xd9" % self._frame)

    def capture_metadata(self, wait: Any = None, signal_function: Any = None) -> dict[str, Any]:
        assert self.started, "capture before start()"
        self._wait(wait, "capture_metadata")
        return self._next_metadata()

    @contextlib.contextmanager
    def captured_request(self, wait: Any = None, flush: Any = None) -> Iterator[FakeRequest]:
        assert self.started, "capture before start()"
        self.capture_calls.append({"wait": wait, "flush": flush})
        self._wait(wait, "capture_request")
        called_at = time.monotonic_ns()
        metadata = self._next_metadata()
        if flush is True:
            started = metadata["SensorTimestamp"] - 1000 * metadata["ExposureTime"]
            assert started >= called_at, "flush=True returned a frame exposed before the call"
        self._produce_preview()
        request = FakeRequest(self, metadata)
        try:
            yield request
        finally:
            request.release()
