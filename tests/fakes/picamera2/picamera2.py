"""Fake ``picamera2.Picamera2``: configuration, requests, jobs and controls as the real one
handles them (picamera2/picamera2.py unless another file is named).

* Controls ride on the next request that goes back to the camera (request.py
  CompletedRequest.release): the frame picamera2 holds and the requests already queued
  carry the old ones, and libcamera's pipeline adds its delays (:mod:`.ipa`).
* Every capture is a job on ``_job_list`` that the event loop (process_requests) runs,
  oldest first, as frames arrive; ``wait=<seconds>`` raises ``TimeoutError`` but the job
  stays listed until ``cancel_all_and_flush()``, and ``stop()`` queues behind it.  Where the
  real ``stop()`` would then wait forever, this one raises :class:`StopWouldHang`.
* ``configure`` runs check_camera_config's rules, VC4's YUV ``lores`` among them.

Time is the fake's own clock (``_clock_ns``, one frame duration per frame) where the real
one reads ``time.monotonic_ns()``, so "a frame held from before the call" is exact.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from functools import partial
from typing import Any, ClassVar

import numpy as np

from .ipa import AUTO_EXPOSURE_US, AUTO_GAIN, Exposure, RpiPipeline
from .platform import Platform

RED, GREEN, BLUE = 200, 100, 50
# picamera2/formats.py
YUV_FORMATS = {"NV21", "NV12", "YUV420", "YVU420", "YVYU", "YUYV", "UYVY", "VYUY"}
RGB_FORMATS = {"BGR888", "RGB888", "XBGR8888", "XRGB8888", "RGB161616", "BGR161616"}

Step = Callable[[], tuple[bool, Any]]


class StopWouldHang(AssertionError):
    """The real ``stop()`` would block here for ever (the suite must not)."""


class _Request:
    """A libcamera request: its buffers, and the controls picamera2 attached when it queued it."""

    def __init__(self) -> None:
        self.controls: dict[str, Any] = {}


class CompletedRequest:
    """request.py CompletedRequest: reference counted; when the count reaches zero the
    request goes back to the camera with the controls set since the last one went back."""

    def __init__(self, camera: Picamera2, request: _Request, metadata: dict[str, Any]) -> None:
        self.camera = camera
        self.request = request
        self.metadata = metadata
        self.ref_count = 1
        self.stop_count = camera.stop_count

    def release(self) -> None:
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        if (
            self.ref_count == 0
            and self.camera.started
            and self.stop_count == self.camera.stop_count
        ):
            self.camera._requeue(self.request)

    def get_metadata(self) -> dict[str, Any]:
        return dict(self.metadata)

    def make_array(self, name: str) -> np.ndarray:
        stream = self.camera.configured[name]
        width, height = stream["size"]
        assert stream["format"] == "BGR888", "the fake only renders BGR888"
        image = np.empty((height, width, 3), np.uint8)
        image[...] = (RED, GREEN, BLUE)  # BGR888 is R, G, B in memory
        if Picamera2.textured:  # test steering: detail the stacker can align on
            rows, cols = np.mgrid[0:height, 0:width]
            image[..., 1] = 64 + 127 * ((rows // 4 + cols // 4) % 2) + (rows * cols) % 29
        return image


class _Job:
    """job.py Job: steps run in turn, each retried on every new frame until it is done."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.result: Any = None
        self.cancelled = False

    def execute(self) -> bool:
        while self.steps:
            done, result = self.steps[0]()
            if not done:
                return False
            self.steps.pop(0)
            self.result = result
        return True


class Picamera2:
    instances: ClassVar[list[Picamera2]] = []
    # Knobs for a test:
    fail_open: ClassVar[Exception | None] = None  # the constructor raises this
    stall: ClassVar[bool] = False  # no frame arrives (a loose cable)
    exposure_offset_us: ClassVar[int] = 0  # the sensor misses a fixed exposure by this
    with_focus_motor: ClassVar[bool] = True  # Camera Module 3 (LensPosition)
    platform: ClassVar[Platform] = Platform.VC4  # Picamera2.platform
    reports_ae_state: ClassVar[bool] = True  # libcamera ≥ 0.5
    frame_duration_us: ClassVar[int] = 100_000
    # The next wait is cancelled as if another thread's timed-out wait had called
    # cancel_all_and_flush() meanwhile (job.py Job.cancel: its result raises CancelledError).
    cancel_next_wait: ClassVar[bool] = False
    textured: ClassVar[bool] = False  # frames with detail in green (flat colour otherwise)
    # Frames exposed no earlier than the wall clock (CLOCK_MONOTONIC, as the real
    # SensorTimestamp), for tests that compare them with the rig's own clock.
    real_time: ClassVar[bool] = False
    scene: ClassVar[Exposure] = Exposure(AUTO_EXPOSURE_US, AUTO_GAIN)  # what AE aims at

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
        self.released = 0  # requests the rig gave back through captured_request
        self.deadlocked = False
        self.stop_count = 0
        self.pipeline: RpiPipeline | None = None
        self._job_list: list[_Job] = []
        self._pending: dict[
            str, Any
        ] = {}  # picamera2's Controls: set since the last queued request
        self._queued: deque[_Request] = deque()  # requests with libcamera
        self._completed: list[CompletedRequest] = []  # completed_requests
        self._max_queue_len = 0
        self._event_loop_running = False
        self._clock_ns = time.monotonic_ns()

    @staticmethod
    def load_tuning_file(name: str) -> dict[str, Any]:
        return {"tuning": name}

    # -- configuration ----------------------------------------------------------

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
        """configure_: refused while running; the configuration's controls are what
        ``start`` sends; with ``queue`` and more than one buffer, one completed request is
        kept back for the next capture (_max_queue_len)."""
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.check_camera_config(config)
        self.events.append("configure")
        self.configure_calls.append(config)
        self.configured = config
        self._max_queue_len = 1 if config.get("queue", True) and config["buffer_count"] > 1 else 0
        self._pending = {}
        self._set(config.get("controls", {}))

    def _set(self, controls: dict[str, Any]) -> None:
        """controls.py Controls.__setattr__: only what libcamera advertises."""
        for name in controls:
            if name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
        self._pending.update(controls)

    # -- life cycle ----------------------------------------------------------------

    def start(self, config: Any = None, show_preview: Any = False) -> None:
        """start → start_preview(False) runs a NullPreview thread as the event loop, then
        start_: camera.start(controls) and every request queued (_make_requests: one per
        buffer)."""
        if not self.configured:
            raise RuntimeError("Camera has not been configured")
        if show_preview is not None:
            self._event_loop_running = True
        if self.started:
            return
        self.events.append("start")
        self.pipeline = RpiPipeline(
            Picamera2.scene,
            Picamera2.frame_duration_us,
            Picamera2.exposure_offset_us,
            Picamera2.reports_ae_state,
        )
        self.pipeline.start(self._pending)
        self._pending = {}
        self._queued = deque(_Request() for _ in range(self.configured["buffer_count"]))
        self._completed = []
        self.started = True
        self._run_on()

    def stop(self) -> None:
        """With the event loop running, stop sends stop_ as a job (dispatch_functions,
        wait=True, no timeout) behind the jobs already listed: a job that no frame will
        finish keeps it waiting for ever."""
        if not self.started:
            return
        self.events.append("stop")
        if self._event_loop_running:
            while self._job_list:
                if not self._frames_can_come():
                    self.deadlocked = True
                    raise StopWouldHang(
                        "Picamera2.stop() would wait for ever: a timed-out job is still "
                        "listed ahead of it (cancel_all_and_flush() clears it)"
                    )
                self._event_loop(new_frame=True)
        self._stop()

    def _stop(self) -> None:
        """stop_: requests in flight and completed ones are dropped, not queued again."""
        self.stop_count += 1
        self.started = False
        for completed in self._completed:
            completed.release()
        self._completed = []
        self._queued.clear()

    def close(self) -> None:
        """close: stop_preview (the event loop ends), then stop, which is now direct."""
        if self.closed:
            return
        self._event_loop_running = False
        self.stop()
        self.events.append("close")
        self.closed = True

    # -- encoders --------------------------------------------------------------------

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
        self.encoders = []

    # -- controls ----------------------------------------------------------------------

    def set_controls(self, controls: dict[str, Any]) -> None:
        """set_controls: "delivered with the next request that gets submitted"."""
        self._set(controls)
        self.control_history.append(dict(controls))

    def _requeue(self, request: _Request) -> None:
        """request.py CompletedRequest.release: the pending controls go with this request."""
        request.controls, self._pending = self._pending, {}
        self._queued.append(request)

    # -- jobs and frames ---------------------------------------------------------------

    def cancel_all_and_flush(self) -> None:
        """cancel_all_and_flush: every listed job is cancelled and the list cleared."""
        self.events.append("cancel_all_and_flush")
        for job in self._job_list:
            job.cancelled = True
        self._job_list = []

    def capture_metadata(self, wait: Any = None, signal_function: Any = None) -> dict[str, Any]:
        """capture_metadata_: the first completed request's metadata (it may be the one
        held back from before the call), released at once."""
        metadata: dict[str, Any] = self._dispatch([self._capture_metadata_], wait)
        return metadata

    def capture_request(
        self, wait: Any = None, signal_function: Any = None, flush: Any = None
    ) -> CompletedRequest:
        """capture_request: ``flush=True`` means "exposed no earlier than now"
        (wait_for_timestamp_ drops older frames); the caller owns the request."""
        if flush is True:
            flush = self._clock_ns
        request: CompletedRequest = self._dispatch(
            [partial(self._wait_for_timestamp_, flush), self._capture_request_], wait
        )
        return request

    @contextlib.contextmanager
    def captured_request(self, wait: Any = None, flush: Any = None) -> Iterator[CompletedRequest]:
        """captured_request (picamera2 ≥ 0.3.20 takes wait= and flush=)."""
        self.capture_calls.append({"wait": wait, "flush": flush})
        request = self.capture_request(wait=wait, flush=flush)
        try:
            yield request
        finally:
            self.released += 1
            request.release()

    def _capture_metadata_(self) -> tuple[bool, Any]:
        if not self._completed:
            return (False, None)
        request = self._completed.pop(0)
        metadata = request.get_metadata()
        request.release()
        return (True, metadata)

    def _capture_request_(self) -> tuple[bool, Any]:
        if not self._completed:
            return (False, None)
        return (True, self._completed.pop(0))

    def _wait_for_timestamp_(self, timestamp_ns: int | None) -> tuple[bool, Any]:
        if not timestamp_ns:
            return (True, None)
        while self._completed:
            metadata = self._completed[0].metadata
            if metadata["SensorTimestamp"] - 1000 * metadata["ExposureTime"] >= timestamp_ns:
                return (True, None)
            self._completed.pop(0).release()
        return (False, None)

    def _dispatch(self, steps: list[Step], wait: Any) -> Any:
        """dispatch_functions: list the job, let the event loop run it; ``wait`` is seconds
        to wait (then TimeoutError, the job left listed), or True/None for ever."""
        assert self.started, "capture before start()"
        if wait is False:
            raise NotImplementedError("the fake does not hand out Job objects")
        job = _Job(steps)
        self._job_list.append(job)
        if Picamera2.cancel_next_wait:
            Picamera2.cancel_next_wait = False
            self.cancel_all_and_flush()
        if job.cancelled:
            raise CancelledError()  # job.py Job.cancel: set_exception(CancelledError())
        self._event_loop(new_frame=False)  # a completed request may already be waiting
        while job in self._job_list:
            if not self._frames_can_come():
                if wait is None or wait is True:
                    raise AssertionError("the rig must never wait for ever for a frame")
                raise TimeoutError()  # concurrent.futures.TimeoutError, from Job.get_result
            self._event_loop(new_frame=True)
        self._run_on()
        return job.result

    def _frames_can_come(self) -> bool:
        return not Picamera2.stall and bool(self._queued)

    def _event_loop(self, new_frame: bool) -> None:
        """process_requests: a new frame joins completed_requests and goes to the encoders,
        the listed jobs run in order until one is not done, then completed requests beyond
        _max_queue_len go back to the camera."""
        if new_frame:
            self._complete_next()
        while self._job_list and self._job_list[0].execute():
            self._job_list.pop(0)
        while len(self._completed) > self._max_queue_len:
            self._completed.pop(0).release()

    def _run_on(self) -> None:
        """The camera runs on between the rig's calls: one more frame arrives."""
        if self._frames_can_come():
            self._event_loop(new_frame=True)

    def _complete_next(self) -> None:
        """libcamera completes the oldest queued request, with the controls it carried."""
        assert self.pipeline is not None
        request = self._queued.popleft()
        self.pipeline.apply(request.controls)
        metadata = self.pipeline.frame()
        if Picamera2.real_time:  # the sensor ran on while nobody asked: no frame from the past
            self._clock_ns = max(self._clock_ns, time.monotonic_ns())
        exposure_start = self._clock_ns
        self._clock_ns += 1000 * max(metadata["FrameDuration"], metadata["ExposureTime"])
        metadata["SensorTimestamp"] = exposure_start + 1000 * metadata["ExposureTime"]
        self._completed.append(CompletedRequest(self, request, metadata))
        for _encoder, output, _name in self.encoders:
            output.fileoutput.write(b"\xff\xd8fake-jpeg-%d\xff\xd9" % self._clock_ns)
