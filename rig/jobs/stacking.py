"""The stacking worker: fuses a job's frames while the rail is still moving.

It runs in its own thread at a lower priority (``nice``) so capture timing is not
disturbed, consumes frames in capture order, keeps a small JPEG of the fused image as it
grows (``preview.jpg``), and writes the results when told the capture is complete.
Frames reach it either in memory (when it keeps up) or as the path of the saved file
(when it lags, so memory does not grow with its backlog).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from rig.durable import write_atomic
from rig.job_files import PREVIEW_FILE, JobFiles
from rig.plan import StackPlan
from stacker import StackOptions, StackResult, Stream
from stacker.files import report as stack_report
from stacker.health import PlanInfo, check
from stacker.health.report import finding_json
from stacker.io import ImageIOError, write_image
from stacker.stream import default_workers

log = logging.getLogger(__name__)

PREVIEW_WIDTH = 480
_DONE = object()


@dataclass
class Ticket:
    index: int
    path: Path
    image: np.ndarray | None  # None: read it from ``path``


class StackAborted(Exception):
    pass


ProgressCallback = Callable[[int, float], None]  # (frames fused, seconds per frame)
FindingCallback = Callable[[dict[str, Any]], None]  # a health finding, as JSON


class Stacker(Protocol):
    """What the runner and the frame writer need of a job's stacking: here, a
    :class:`StackWorker`; handed to a Dask cluster, :class:`rig.cluster.handoff.ClusterStacker`."""

    fused: int
    seconds_per_frame: float

    @property
    def health(self) -> dict[str, Any] | None:
        """The health check's summary, once finished."""
        ...

    @property
    def where(self) -> str:
        """Where the frames are being fused, for the job's progress ("here", a cluster)."""
        ...

    @property
    def idle(self) -> bool: ...

    def start(self) -> None: ...

    def submit(self, ticket: Ticket) -> None: ...

    def finish(self, timeout: float | None = None) -> list[str]: ...

    def request_abort(self) -> None: ...

    def abort(self) -> None: ...


class StackerFactory(Protocol):
    """Makes a job's :class:`Stacker` — the one seam where the runner's stacking is
    chosen (``StackWorker`` itself is one)."""

    def __call__(
        self,
        plan: StackPlan,
        count: int,
        files: JobFiles,
        *,
        on_progress: ProgressCallback | None = None,
        on_finding: FindingCallback | None = None,
        frame_paths: list[Path] | None = None,
    ) -> Stacker: ...


class StackWorker:
    """One job's stream.  ``submit`` frames in order, then ``finish`` (or ``abort``)."""

    def __init__(
        self,
        plan: StackPlan,
        count: int,
        files: JobFiles,
        *,
        on_progress: ProgressCallback | None = None,
        on_finding: FindingCallback | None = None,
        frame_paths: list[Path] | None = None,
        nice: int = 10,
    ) -> None:
        self.plan = plan
        self.files = files
        self._count = count
        self._on_progress = on_progress
        self._on_finding = on_finding
        self._announced: set[tuple[str, tuple[int, ...]]] = set()
        self.health: dict[str, Any] | None = None  # the health check's, once written
        self._nice = nice
        self._frame_paths = frame_paths
        self._queue: queue.Queue[object] = queue.Queue()
        self._abort = threading.Event()
        self._outputs: list[str] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"stack-{files.dir.name}", daemon=True
        )
        self.fused = 0
        self.seconds_per_frame = 0.0

    def start(self) -> None:
        self._thread.start()

    @property
    def where(self) -> str:
        return "here"

    @property
    def idle(self) -> bool:
        """Nothing waiting: a frame handed over now is processed at once."""
        return self._queue.empty()

    def submit(self, ticket: Ticket) -> None:
        self._queue.put(ticket)

    def finish(self, timeout: float | None = None) -> list[str]:
        """Wait for every frame to be fused and the results written; their file names.
        Raises StackAborted if :meth:`request_abort` came first."""
        self._queue.put(_DONE)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("stacking did not finish in time")
        if self._error is not None:
            raise self._error
        if self._outputs is None:
            raise StackAborted("stacking was stopped")
        return self._outputs

    def request_abort(self) -> None:
        """Stop after the frame being fused (from any thread; does not wait)."""
        self._abort.set()
        self._queue.put(_DONE)

    def abort(self) -> None:
        self.request_abort()
        self._thread.join()

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        # Not permitted, or not Linux: run at normal priority.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        options = StackOptions(
            method=self.plan.method,
            depth_map=self.plan.depth_map,
            workers=max(1, min(4, (os.cpu_count() or 2) - 1)),
        )
        try:
            with Stream(count=self._count, options=options) as stream:
                self._consume(stream)
                if self._abort.is_set():
                    return
                result = stream.finish()
            self._outputs = self._write(result)
        except BaseException as exc:  # reported to whoever calls finish()
            self._error = exc

    def _consume(self, stream: Stream) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE or self._abort.is_set():
                return
            assert isinstance(item, Ticket)
            started = time.monotonic()
            last = item.index == self._count - 1
            if last:  # the capture is over: its core is free for the result
                stream.use_workers(default_workers())
            image, item.image = item.image, None
            try:
                if image is not None:  # lossless pixels, as the camera gave them
                    stream.add(image, source=item.path)
                else:  # as saved: registered as `macrorig stack` would (stacker.encoded)
                    stream.add_file(item.path)
            except ImageIOError as exc:  # listed in the manifest, but gone or damaged
                log.warning("frame %d skipped: %s", item.index, exc)
                stream.skip(f"could not be read: {exc}", name=item.path.name)
            del image
            self.fused += 1
            if item.index > stream.reference:  # one frame's work (the reference's add also
                spent = time.monotonic() - started  # fuses every frame that came before it)
                self.seconds_per_frame = (
                    spent
                    if not self.seconds_per_frame
                    else 0.8 * self.seconds_per_frame + 0.2 * spent
                )
            if not last:  # the result itself follows at once
                self._write_preview(stream)
            if self._on_progress:
                self._on_progress(self.fused, self.seconds_per_frame)
            if self._on_finding:
                self._announce_findings(stream)

    def _announce_findings(self, stream: Stream) -> None:
        """Findings that the frames still to come cannot change, each announced once: a
        frame two behind the newest has both its neighbours; the end of the range is only
        known at the end."""
        # The check costs ~0.2 ms a frame seen (40 ms at 200 frames): at most 20 times a
        # stack keeps it to ~2 ms a frame, 2 % of a 1 MP frame's fusion.
        seen = len(stream.health.frames)
        if seen < 5 or seen % max(1, self._count // 20):
            return
        for finding in check(stream.health, self._plan_info()).findings:
            settled = max(finding.frames) <= seen - 3 and not (
                finding.kind == "range" and min(finding.frames) > 0
            )
            key = (finding.kind, finding.frames)
            if settled and finding.severity != "info" and key not in self._announced:
                self._announced.add(key)
                assert self._on_finding is not None
                self._on_finding(finding_json(finding))

    def _plan_info(self) -> PlanInfo:
        return PlanInfo(
            positions=self.plan.positions(),
            unit="mm" if self.plan.uses_rail else "dioptres",
            settle_s=self.plan.settle_s if self.plan.uses_rail else None,
        )

    def _write_preview(self, stream: Stream) -> None:
        small = stream.preview(PREVIEW_WIDTH)
        if small is None:
            return
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        if ok:
            write_atomic(self.files.path(PREVIEW_FILE), buf.tobytes())

    def _write(self, result: object) -> list[str]:
        """Write the results.  The depth map does not need the fused image: it is encoded
        and written on a second thread while the image is (a live stack waits for all of
        this after its last frame)."""
        assert isinstance(result, StackResult)
        outputs = []
        with ThreadPoolExecutor(1, thread_name_prefix="stack-write") as beside:
            depth = None
            if self.plan.depth_map and result.depth is not None:
                depth = beside.submit(write_image, self.files.path("depth.png"), result.depth)
            for fmt in self.plan.outputs:
                name = f"result.{fmt}"
                write_image(self.files.path(name), result.fused)
                outputs.append(name)
            if depth is not None:
                depth.result()
                outputs.append("depth.png")
        paths = self._frame_paths or [self.files.dir / e.file for e in self.files.entries()]
        usable = paths if len(paths) == len(result.frames) else None
        content = stack_report(result, usable, self._plan_info())
        self.health = content["health"] if isinstance(content["health"], dict) else None
        self.files.write_json("report.json", content)
        outputs.append("report.json")
        log.info("stacked %d frames into %s", len(result.frames), ", ".join(outputs))
        return outputs
