"""One stack as one task: frames read through fsspec, fused by the same stacker as
``macrorig stack``, results written beside them atomically.

:func:`run_stack_task` runs on a Dask worker (or in any process); it needs this package
and fsspec, not the rig.  What it promises, so a task can be killed and run again:

- every result is written to a temporary name and renamed (on object storage an object
  appears whole), so a result file is complete or absent; temporary files a killed
  attempt left are removed when the next attempt starts;
- a result never replaces a frame (a name clash is refused before anything is written);
- ``restack.json`` is written last: its presence means every result before it is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

import cv2

from rig.job_files import PREVIEW_FILE, RESTACK_FILE
from stacker import DEFAULT_METHOD, ImageIOError, StackError, StackOptions, StackResult, Stream
from stacker.files import report as stack_report
from stacker.io import atomic_output, read_exif, write_image
from stacker.memory import limit_heap_fragmentation

PREVIEW_WIDTH = 480
REPORT_FILE = "report.json"
DEPTH_FILE = "depth.png"


@dataclass(frozen=True)
class StackTask:
    """One stack to fuse.  Paths or fsspec URLs that the worker can read and write."""

    name: str  # how the summary and the log call it
    frames: tuple[str, ...]  # in stacking order
    out_dir: str  # where the results go
    method: str = DEFAULT_METHOD
    outputs: tuple[str, ...] = ("jpg",)  # result.<fmt> for each
    depth_map: bool = False
    quality: int = 95
    threads: int | None = None  # tile threads for this stack (None: the stacker's default)
    pixels: int = 12_000_000  # of one frame, for the memory estimate
    progress_topic: str | None = None  # Dask event topic for "frame n of N" (and preview.jpg)
    marker: bool = True  # write restack.json at the end (archive runs)

    def result_names(self) -> list[str]:
        names = [f"result.{fmt}" for fmt in self.outputs]
        if self.depth_map:
            names.append(DEPTH_FILE)
        return [*names, REPORT_FILE]


@dataclass(frozen=True)
class TaskResult:
    name: str
    frames: int
    fused: int
    method: str
    seconds: float
    peak_rss_mb: float
    outputs: list[str]  # file names in the task's out_dir
    worker: str
    skipped: list[str] = field(default_factory=list)  # "frame: reason"
    health: str | None = None  # the stack's health verdict, where the stacker gives one
    error: str | None = None  # bad input: why nothing was written
    started_at: float = 0.0  # wall clock (time.time) on the worker
    finished_at: float = 0.0


class ResultClash(Exception):
    """A result would replace a frame (bad input; the task writes nothing)."""


def run_stack_task(task: StackTask) -> TaskResult:
    """Stack ``task``'s frames into its results.  Bad input (unreadable or mismatched
    frames, too few that align, a name clash) comes back as the result's ``error``, not
    as an exception, so the cluster does not treat it as a crash; anything else raises."""
    # A Dask worker starts with MALLOC_TRIM_THRESHOLD_=65536, which hands every freed
    # frame-sized buffer back to the kernel and faults it in again; the stacker's own
    # allocator settings (what `macrorig stack` uses) replace it.
    limit_heap_fragmentation()
    started, worker, began_at = time.monotonic(), _worker_address(), time.time()
    with PeakRss() as peak:
        try:
            return _run(task, worker, peak, started, began_at)
        except (StackError, ImageIOError, ResultClash, FileNotFoundError) as exc:
            error = str(exc)
            if isinstance(exc, FileNotFoundError):
                error = f"{exc.filename or exc}: no such file (it went while stacking)"
    return TaskResult(
        name=task.name,
        frames=len(task.frames),
        fused=0,
        method=task.method,
        seconds=round(time.monotonic() - started, 2),
        peak_rss_mb=round(peak.bytes / 1e6, 1),
        outputs=[],
        worker=worker,
        error=error,
        started_at=began_at,
        finished_at=time.time(),
    )


def _run(
    task: StackTask, worker: str, peak: PeakRss, started: float, began_at: float
) -> TaskResult:
    from fsspec.core import url_to_fs

    fs, out_dir = url_to_fs(task.out_dir)
    _refuse_clashes(task, fs, out_dir)
    _remove_partial_results(fs, out_dir, task)
    with tempfile.TemporaryDirectory(prefix="macrorig-stack-") as tmp:
        scratch = Path(tmp)
        writer = _ResultWriter(fs, out_dir, scratch)
        result, exif = _fuse(task, scratch, writer)
        report = stack_report(result, list(task.frames))
        report["stacked_on"] = worker
        outputs = []
        for fmt in task.outputs:
            name = f"result.{fmt}"
            writer.put(
                name, lambda p: write_image(p, result.fused, quality=task.quality, exif=exif)
            )
            outputs.append(name)
        depth = result.depth
        if task.depth_map and depth is not None:
            writer.put(DEPTH_FILE, lambda p: write_image(p, depth))
            outputs.append(DEPTH_FILE)
        writer.put(REPORT_FILE, _json_writer(report))
        outputs.append(REPORT_FILE)
    done = TaskResult(
        name=task.name,
        frames=len(task.frames),
        fused=sum(1 for f in result.frames if f.status == "fused"),
        method=task.method,
        seconds=round(time.monotonic() - started, 2),
        peak_rss_mb=round(peak.peak() / 1e6, 1),
        outputs=outputs,
        worker=worker,
        skipped=[f"{PurePosixPath(task.frames[f.index]).name}: {f.reason}" for f in result.skipped],
        health=_health(report),
        started_at=began_at,
        finished_at=time.time(),
    )
    if task.marker:
        record = {**asdict(done), "frame_files": [PurePosixPath(f).name for f in task.frames]}
        _ResultWriter(fs, out_dir, None).put(RESTACK_FILE, _json_writer(record))
    return done


def _fuse(
    task: StackTask, scratch: Path, writer: _ResultWriter
) -> tuple[StackResult, bytes | None]:
    """Every frame through one stream, as ``stack_files`` does (BGR, middle reference)."""
    from fsspec.core import url_to_fs

    options = StackOptions(method=task.method, depth_map=task.depth_map)
    if task.threads:
        options = replace(options, workers=task.threads)
    count = len(task.frames)
    exif = None
    per_frame = 0.0
    with Stream(count=count, options=options, bgr=True) as stream:
        for index, url in enumerate(task.frames):
            began = time.monotonic()
            fs, path = url_to_fs(url)
            local = _is_local(fs)
            data = Path(path).read_bytes() if local else fs.cat_file(path)
            # Frames before the reference are read again once it is in; a frame on a
            # share or in object storage is kept on the worker's disk until then.
            source: Path | None = Path(path) if local else None
            if source is None and index <= stream.reference:
                source = scratch / f"{index:05d}{PurePosixPath(path).suffix}"
                source.write_bytes(data)
            if index == stream.reference and source is not None:
                exif = read_exif(source)
            stream.add_bytes(data, name=url, source=source)
            del data
            if index > stream.reference and source is not None and not local:
                source.unlink(missing_ok=True)
            per_frame = time.monotonic() - began
            if task.progress_topic:
                _report_progress(task.progress_topic, index + 1, count, per_frame)
                small = stream.preview(PREVIEW_WIDTH)
                if small is not None:
                    writer.put(PREVIEW_FILE, _jpeg_writer(small))
        return stream.finish(), exif


class _ResultWriter:
    """Writes a result file into ``out_dir`` so that it appears whole or not at all."""

    def __init__(self, fs: Any, out_dir: str, scratch: Path | None) -> None:
        self.fs, self.out_dir, self.scratch = fs, out_dir, scratch

    def put(self, name: str, write: Callable[[Path], None]) -> None:
        """``write(path)`` writes the file atomically (tmp + rename) at ``path``."""
        target = f"{self.out_dir.rstrip('/')}/{name}"
        if _is_local(self.fs):
            write(Path(target))
            return
        with tempfile.TemporaryDirectory(dir=self.scratch, prefix="out-") as tmp:
            local = Path(tmp) / name
            write(local)
            partial = f"{self.out_dir.rstrip('/')}/.{name}.{secrets.token_hex(4)}.part"
            self.fs.put_file(str(local), partial)
            self.fs.mv(partial, target)


def _json_writer(data: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    return write


def _jpeg_writer(image_bgr: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if ok:
            with atomic_output(path) as tmp:
                tmp.write_bytes(buf.tobytes())

    return write


def _refuse_clashes(task: StackTask, fs: Any, out_dir: str) -> None:
    """A frame stored under a result's name (a plain folder holding ``result.jpg``)."""
    from fsspec.core import url_to_fs

    ours = {f"{out_dir.rstrip('/')}/{name}" for name in [*task.result_names(), RESTACK_FILE]}
    for url in task.frames:
        frame_fs, path = url_to_fs(url)
        if type(frame_fs) is type(fs) and path in ours:
            raise ResultClash(
                f"{url}: a frame has the name of a result; rename it (results never replace frames)"
            )


def _remove_partial_results(fs: Any, out_dir: str, task: StackTask) -> None:
    """Temporary files of a result that a killed attempt left behind."""
    names = [*task.result_names(), RESTACK_FILE, PREVIEW_FILE]
    for name in names:
        for leftover in fs.glob(f"{out_dir.rstrip('/')}/.{name}.*.part"):
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(leftover)


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):  # not on a Dask worker
        return "local"


def _report_progress(topic: str, fused: int, count: int, seconds_per_frame: float) -> None:
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(
        topic, {"fused": fused, "count": count, "seconds_per_frame": seconds_per_frame}
    )


def _health(report: dict[str, Any]) -> str | None:
    """A short verdict from the report's ``health`` entry, if the stacker wrote one."""
    health = report.get("health")
    if health is None:
        return None
    if isinstance(health, dict):
        for key in ("verdict", "status", "summary"):
            if key in health:
                return str(health[key])
        return json.dumps(health, separators=(",", ":"))[:200]
    return str(health)


class PeakRss:
    """The process's largest resident set size while the block runs, sampled every
    ``interval`` seconds (a stack's peak lasts far longer than that)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self.bytes = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.bytes = max(self.bytes, _rss())

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak()

    def peak(self) -> int:
        """The peak so far (now included)."""
        self.bytes = max(self.bytes, _rss())
        return self.bytes


def _rss() -> int:
    """Resident set size now, from /proc (Linux: the rig and the workers run there)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
