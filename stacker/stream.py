"""The streaming stacker: frames in one at a time, one fused image out.

``Stream.add(frame)`` registers the frame (to the one before it, or in a long stack to a
recent keyframe: ``stacker.chain``) and merges it into the fused pyramid before returning,
so the result is ready moments after the last frame.  Memory is fixed by the frame size,
never by the number of frames.

The output geometry is the reference frame's (by default the middle one); when that frame
cannot be used (it does not register: black, noise, half decoded; or it cannot be read)
the next frame that can becomes the reference, so one bad frame never loses the stack.
The first frame has nothing before it to be checked against: it is held until a frame
registers to it (``stacker.chain``), and dropped if the frames after it agree without it.
Frames that
arrive before the reference are registered at once but fused only when the reference
has arrived — re-read from ``source`` (the file the caller saved them to) or, without
one, from a temporary spill file — so nothing but a file path is held per frame.

Frames given as files (``add_file``, ``add_files``) are registered from a reduced decode
and decoded in full only to be fused (``stacker.encoded``).  ``add_files`` also overlaps
the two: the next frame is read and registered on the caller's thread while this one is
fused on a fusion thread (its tiles on the pool), with one frame in memory in full.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Literal

import cv2
import numpy as np

from stacker import focus, geometry
from stacker.align import RegistrationError
from stacker.bands import TILE_LEVELS, decompose_tile, fixed_ycc_to_rgb8, warped_ycc
from stacker.chain import RegistrationChain, Step
from stacker.encoded import OpenedFrame, open_frame, read_frame_file
from stacker.focus import DepthTracker
from stacker.geometry import Matrix, Rect
from stacker.health.record import HealthRecorder
from stacker.io import ImageIOError, read_frame
from stacker.memory import return_free_heap
from stacker.methods import DEFAULT_METHOD, METHOD_NAMES, METHODS, FusionMethod, MethodName
from stacker.methods.base import FrameContext
from stacker.pyramid import FusedPyramid
from stacker.result import FusedImage, StackResult
from stacker.threads import opencv_single_threaded
from stacker.tiles import level_size, pick_tile, scale_rect, tile_grid, tile_phases

Reference = int | Literal["first", "middle", "last"]

# A tile's margin: the pyramid's filters need ~24 px of context for the levels merged in
# tiles, plus whatever the decision rule looks at (a multiple of 8 keeps the level grids).
_PYRAMID_CONTEXT = 24


class StackError(Exception):
    """Bad input to the stacker (message says what to fix)."""


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class StackOptions:
    method: MethodName = DEFAULT_METHOD
    align: bool = True
    crop: bool = True  # crop to the area every fused frame covers
    depth_map: bool = False
    near_first: bool = True  # frame 0 is nearest the camera (depth map: near = bright)
    tile: int | None = None  # px; None: by frame size (stacker.tiles.pick_tile)
    workers: int = field(default_factory=default_workers)
    interpolation: Literal["cubic", "linear"] = "cubic"


@dataclass(frozen=True)
class FrameReport:
    """What happened to one frame: ``fused``, ``deferred`` (waiting for the reference)
    or ``skipped`` (with the reason)."""

    index: int
    status: Literal["fused", "deferred", "skipped"]
    name: str | None = None
    reason: str | None = None
    warp: Matrix | None = None  # reference pixel → this frame's pixel
    gain: float = 1.0
    correlation: float | None = None


class Stream:
    """Align and fuse frames as they arrive.  Not thread-safe: one owner calls it."""

    def __init__(
        self,
        count: int | None = None,
        reference: Reference = "middle",
        options: StackOptions | None = None,
        *,
        bgr: bool = False,
    ) -> None:
        self.options = options or StackOptions()
        if self.options.method not in METHODS:
            names = " or ".join(METHOD_NAMES)
            raise StackError(f"unknown method {self.options.method!r} (use {names})")
        if count is not None and count < 1:
            raise StackError("count must be positive")
        self.count = count
        self.bgr = bgr
        self._reference = _resolve_reference(reference, count) if self.options.align else 0
        self._reference_requested = reference
        self.reports: list[FrameReport] = []
        self.health = HealthRecorder()  # a few numbers per frame for the health check
        self._chain = RegistrationChain(count)
        self._deferred: dict[int, Reopen] = {}
        self._size: tuple[int, int] | None = None
        self._dtype: np.dtype | None = None
        self._pyramid: FusedPyramid | None = None
        self._method: FusionMethod | None = None
        self._depth: DepthTracker | None = None
        self._coverage: Rect | None = None
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self._workers = 1
        self._pool: ThreadPoolExecutor | None = None
        self._fuser: ThreadPoolExecutor | None = None  # add_files: one frame fused ahead
        self._fusing: Future[None] | None = None
        self.use_workers(self.options.workers)

    # -- public ------------------------------------------------------------------------
    @property
    def reference(self) -> int:
        return self._reference

    @property
    def fused(self) -> int:
        return sum(1 for r in self.reports if r.status == "fused")

    def add(
        self,
        frame: np.ndarray,
        *,
        source: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> FrameReport:
        """Register and (once the reference is in) fuse one frame.

        ``source``: a file holding the same pixels; frames before the reference are
        re-read from it instead of being spilled to a temporary file."""
        self._check_frame(frame, len(self.reports))
        opened = OpenedFrame.of_pixels([frame], self.bgr)
        del frame  # the opened frame holds the only reference, dropped once fused
        reopen = None if source is None else _reopen_pixels(Path(source), self.bgr)
        return self._add_now(opened, reopen, name)

    def add_file(self, path: str | os.PathLike[str], *, name: str | None = None) -> FrameReport:
        """Read ``path`` and add it.  A JPEG is registered from its reduced luma and decoded
        in full only when it is fused (``stacker.encoded``): frames before the reference
        are decoded once, and never held.  With a pool (a live stack's last frame), a
        frame fused at once is decoded on it while it registers."""
        opened = read_frame_file(path, bgr=self.bgr)
        if self._pool is not None and len(self.reports) >= self._reference:
            opened = opened.decoding_on(self._pool)
        return self._add_now(opened, _reopen_file(Path(path), self.bgr), name or Path(path).name)

    def add_bytes(
        self, data: bytes, *, name: str, source: str | os.PathLike[str] | None = None
    ) -> FrameReport:
        """:meth:`add_file` for a file's contents already in memory (from a share or object
        storage); ``source``: a local copy to read it back from, else it is spilled."""
        opened = open_frame(data, name, bgr=self.bgr)
        del data
        reopen = None if source is None else _reopen_file(Path(source), self.bgr)
        return self._add_now(opened, reopen, PurePath(name).name)

    def _add_now(self, opened: OpenedFrame, reopen: Reopen | None, name: str | None) -> FrameReport:
        """Add one frame and return once it is fused (or deferred, or skipped)."""
        with self._cores():
            report = self._add_frame(opened, reopen, name)
            self._settle()
        return report

    def add_files(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[FrameReport]:
        """:meth:`add_file` for each path in turn, yielding each frame's report as soon as
        it is registered.  With a pool, the next frame is read and registered while this
        one is fused, so the tiles keep every core busy, and before the reference (when
        frames are only registered) the next frame is read while this one registers.  Only
        one frame is decoded in full at a time (the next one's proxy comes from its
        reduced decode)."""
        ahead = self._pool is not None
        with self._cores(), ThreadPoolExecutor(1, thread_name_prefix="read") as reader:
            try:
                for path, opened in self._read_ahead(paths, reader if ahead else None):
                    reopen = _reopen_file(Path(path), self.bgr)
                    yield self._add_frame(opened.result(), reopen, Path(path).name, ahead=ahead)
            finally:
                self._settle()

    def _read_ahead(
        self, paths: Iterable[str | os.PathLike[str]], reader: ThreadPoolExecutor | None
    ) -> Iterator[tuple[str | os.PathLike[str], Future[OpenedFrame]]]:
        """Each path with its frame being read.  Frame k is read on ``reader`` while frame
        k−1 is registered, if that comes before the reference and nothing is fused yet
        (one core would idle); otherwise once frame k−1 is in — alongside a fusion, a
        second frame's file and proxy would sit on the tiles' peak."""
        pending: tuple[str | os.PathLike[str], Future[OpenedFrame]] | None = None
        for k, path in enumerate(paths):
            if pending is None:
                pending = (path, self._read_now(path))
                continue
            future = None
            if reader is not None and k - 1 < self._reference and self._pyramid is None:
                future = reader.submit(read_frame_file, path, bgr=self.bgr)
            yield pending
            pending = (path, future or self._read_now(path))
        if pending is not None:
            yield pending

    def _read_now(self, path: str | os.PathLike[str]) -> Future[OpenedFrame]:
        """The frame read at once, as a finished future (an error kept for ``result()``)."""
        future: Future[OpenedFrame] = Future()
        try:
            future.set_result(read_frame_file(path, bgr=self.bgr))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def _cores(self) -> AbstractContextManager[object]:
        """One worker means one core: a live stack leaves the other cores to the camera,
        so OpenCV must not spread its own threads over them either (its registration and
        warps would, by default).  With a pool, the tiles run OpenCV single-threaded and
        the short serial steps may use every core."""
        return opencv_single_threaded() if self._pool is None else nullcontext()

    def _add_frame(
        self, opened: OpenedFrame, reopen: Reopen | None, name: str | None, *, ahead: bool = False
    ) -> FrameReport:
        """Register the frame, then defer or fuse it; with ``ahead`` the fusion runs in the
        background and this returns as soon as it has started."""
        index = len(self.reports)
        self._check_size(opened.size, opened.dtype, index)
        proxy = opened.proxy
        assert proxy is not None
        report = FrameReport(index=index, status="deferred", name=name)
        step = Step()
        if self.options.align:
            try:
                step = self._chain.add(index, proxy)
            except RegistrationError as exc:
                self.health.observe(index, proxy, None, skipped=str(exc), name=name)
                return self._skipped(report, str(exc))
            if step.link is not None:
                report = replace(report, correlation=step.link.correlation)
        self.health.observe(index, proxy, step.link, name=name)
        self.reports.append(report)
        for dropped, reason in step.dropped:  # earlier frames this one showed to be bad
            self._drop(dropped, reason)
        if index < self._reference or step.held:
            self._defer(index, opened, reopen)
        elif index == self._reference:
            self._chain.place_identity(index)
            self._fuse(index, opened)
            del opened  # before the deferred frames are read back
            self._fuse_deferred()
        else:
            if self.reports[self._reference].status == "deferred":  # held until now
                self._fuse_reference_from_disk()
            self._place_after(index)
            self._fuse(index, opened, ahead=ahead)
        return self.reports[index]

    def skip(self, reason: str, *, name: str | None = None) -> FrameReport:
        """Count a frame that cannot be added (its file is gone or unreadable) as
        skipped, so the frames after it keep their indices."""
        return self._skipped(
            FrameReport(index=len(self.reports), status="deferred", name=name), reason
        )

    def _drop(self, index: int, reason: str) -> None:
        """A frame held back (not fused yet) turned out to be unusable."""
        self._skip(index, reason)
        self.health.mark_skipped(index, reason)
        if index == self._reference:  # the next frame that is not skipped takes over
            self._reference = next(
                (r.index for r in self.reports[index + 1 :] if r.status != "skipped"),
                len(self.reports),
            )

    def _fuse_reference_from_disk(self) -> None:
        self._chain.place_identity(self._reference)
        self._fuse_from_disk(self._reference)
        self._fuse_deferred()

    def _skipped(self, report: FrameReport, reason: str) -> FrameReport:
        report = replace(report, status="skipped", reason=reason)
        self.reports.append(report)
        if report.index == self._reference:
            # The next frame becomes the reference (or, if none comes, finish() picks
            # the middle of what arrived): its neighbours are chained to it as to this one.
            self._reference += 1
        return report

    def use_workers(self, workers: int) -> None:
        """Fuse the coming frames with this many threads: a live stack leaves a core to the
        camera, and takes it back for the last frame, so the result comes sooner."""
        workers = max(1, workers)
        self._settle()
        if workers == self._workers and (self._pool is not None) == (workers > 1):
            return
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._workers = workers
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="stack") if workers > 1 else None
        )

    def preview(self, max_width: int = 640) -> np.ndarray | None:
        """The fused image so far, small (uint8, frame channel order); None before any."""
        self._settle()
        if self._pyramid is None or self._pyramid.frames == 0 or self._size is None:
            return None
        luma, chroma = self._pyramid.preview()
        img = fixed_ycc_to_rgb8(luma, chroma.astype(np.float32), self.bgr)
        crop = self._crop()
        sx, sy = img.shape[1] / self._size[0], img.shape[0] / self._size[1]
        img = img[
            int(crop.y0 * sy) : int(np.ceil(crop.y1 * sy)),
            int(crop.x0 * sx) : int(np.ceil(crop.x1 * sx)),
        ]
        if img.shape[1] > max_width:
            h = max(1, round(img.shape[0] * max_width / img.shape[1]))
            img = cv2.resize(img, (max_width, h), interpolation=cv2.INTER_AREA)
        return img

    def finish(self) -> StackResult:
        """Fuse what is pending and return the result; the stream is spent afterwards."""
        try:
            self._settle()
            for index, reason in self._chain.give_up_pending():
                self._drop(index, reason)
            if self._reference < len(self.reports) and self._reference in self._deferred:
                self._fuse_reference_from_disk()  # the first frame, never confirmed
            if self._reference >= len(self.reports):
                self._rebase_reference()
            if self._pyramid is None or self.fused < 2:
                usable = self.fused
                raise StackError(f"need at least two frames that could be aligned; got {usable}")
            assert self._size is not None
            crop = self._crop()
            self._method = None  # its decision state, before the memory-hungry collapse
            fused = FusedImage(*self._pyramid.collapse(), crop=crop, bgr=self.bgr)
            self._pyramid = None
            depth = None
            if self._depth is not None and self.options.depth_map:
                depth = self._depth.depth_map(
                    len(self.reports), self.options.near_first, self._size, crop
                )
            return StackResult(
                fused=fused,
                depth=depth,
                reference=self._reference,
                frames=list(self.reports),
                health=self.health,
            )
        finally:
            self.close()

    def close(self) -> None:
        fusing, self._fusing = self._fusing, None
        if fusing is not None:
            fusing.exception()  # waits; an error is the caller's only through _settle
        if self._fuser is not None:
            self._fuser.shutdown(wait=True)
            self._fuser = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._spill is not None:
            self._spill.cleanup()
            self._spill = None

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- registration and placement ----------------------------------------------------
    def _check_frame(self, frame: np.ndarray, index: int) -> None:
        if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
            shape = getattr(frame, "shape", None)
            raise StackError(f"frame {index}: expected an H×W×3 colour image, got shape {shape}")
        if frame.dtype not in (np.uint8, np.uint16):
            raise StackError(f"frame {index}: pixels must be 8- or 16-bit, got {frame.dtype}")
        self._check_size((frame.shape[1], frame.shape[0]), frame.dtype, index)

    def _check_size(self, size: tuple[int, int], dtype: np.dtype, index: int) -> None:
        if self._size is None:
            if min(size) < 32:
                raise StackError(f"frame {index}: {size[0]}×{size[1]} is too small to stack")
            self._size, self._dtype = size, dtype
        elif size != self._size:
            raise StackError(
                f"frame {index} is {size[0]}×{size[1]}, the first frame is "
                f"{self._size[0]}×{self._size[1]}: all frames must be the same size"
            )
        elif dtype != self._dtype:
            raise StackError(f"frame {index} is {dtype}, the first frame is {self._dtype}")

    def _place_after(self, index: int) -> None:
        if not self.options.align:
            self._chain.place_identity(index)
        elif not self._chain.place_forward(index):
            raise AssertionError(f"frame {index} follows the reference but is not chained")

    def _rebase_reference(self) -> None:
        """The planned reference never came (a cancelled capture): use the middle of what
        did arrive, so what was captured can still be stacked."""
        good = [r.index for r in self.reports if r.status != "skipped"]
        if not good:
            return
        self._reference = good[len(good) // 2]
        self._chain.place_identity(self._reference)
        if self.options.align:
            self._chain.place_reachable(self._deferred)
        else:
            for index in self._deferred:
                self._chain.place_identity(index)
        self._fuse_from_disk(self._reference)
        for index in sorted(i for i in self._deferred if i > self._reference):
            if index in self._chain.placed:
                self._fuse_from_disk(index)
            else:
                self._skip(index, "could not be chained to the reference frame")
        self._fuse_deferred()

    def _fuse_deferred(self) -> None:
        """Place and fuse the frames that came before the reference, nearest first."""
        self._chain.place_reachable(self._deferred)
        for index in sorted(self._deferred, reverse=True):
            if index in self._chain.placed:
                self._fuse_from_disk(index)
            else:
                self._skip(index, "could not be chained to the reference frame")

    def _skip(self, index: int, reason: str) -> None:
        self._deferred.pop(index, None)
        self.reports[index] = replace(self.reports[index], status="skipped", reason=reason)

    def _defer(self, index: int, opened: OpenedFrame, reopen: Reopen | None) -> None:
        if reopen is None:  # no file holds these pixels: spill them
            if self._spill is None:
                self._spill = tempfile.TemporaryDirectory(prefix="macrorig-stack-")
            path = Path(self._spill.name) / f"{index:05d}.npy"
            np.save(path, opened.pixels(), allow_pickle=False)
            reopen = _reopen_spilled(path, self.bgr)
        self._deferred[index] = reopen

    def _fuse_from_disk(self, index: int) -> None:
        reopen = self._deferred.pop(index)
        self._fuse(index, None, reopen=reopen)

    # -- fusion ------------------------------------------------------------------------
    def _fuse(
        self,
        index: int,
        opened: OpenedFrame | None,
        *,
        reopen: Reopen | None = None,
        ahead: bool = False,
    ) -> None:
        """Fuse a placed frame: ``opened``, or read back through ``reopen``.  With
        ``ahead`` the reading and merging run on the fusion thread; the state they touch
        (pyramid, method, depth, coverage, this frame's report) is not read by anyone
        before :meth:`_settle`."""
        self._settle()
        assert self._size is not None
        warp, gain = self._chain.placed[index]
        is_identity = np.allclose(warp, geometry.identity(), atol=1e-9)
        valid = (
            None if is_identity else geometry.covered_rect(warp, self._size, self._size, pad=2.0)
        )
        if valid is not None and (
            valid.width < self._size[0] // 4 or valid.height < self._size[1] // 4
        ):
            self._skip(index, "shares too little area with the reference frame")
            return
        if self._pyramid is None:
            self._pyramid = FusedPyramid(self._size)
            self._method = METHODS[self.options.method](self._size)
            grid = level_size(self._size, focus.FOCUS_LEVEL)
            self._depth = DepthTracker((grid[1], grid[0]))
        self.reports[index] = replace(self.reports[index], status="fused", warp=warp, gain=gain)
        placed = _Placed(index, None if is_identity else warp, gain, valid)
        if ahead:
            if self._fuser is None:
                self._fuser = ThreadPoolExecutor(1, thread_name_prefix="fuse")
            # Handed over in a list the job empties: the executor keeps its arguments
            # until the job returns, and the frame's file must not live that long.
            self._fusing = self._fuser.submit(self._merge_frame, placed, [opened], reopen)
        else:
            self._merge_frame(placed, [opened], reopen)

    def _settle(self) -> None:
        """Wait for the frame being fused in the background (its errors are raised here)."""
        fusing, self._fusing = self._fusing, None
        if fusing is not None:
            fusing.result()

    def _merge_frame(
        self, placed: _Placed, handed: list[OpenedFrame | None], reopen: Reopen | None
    ) -> None:
        assert self._size is not None and self._depth is not None and self._method is not None
        assert self._pyramid is not None
        index = placed.index
        opened = handed.pop()
        needs_focus = self._method.uses_focus or self.options.depth_map
        try:
            if opened is None:
                assert reopen is not None
                opened = reopen(needs_focus)
            frame = opened.pixels()  # a JPEG's file is read again for it
        except ImageIOError as exc:  # deleted or damaged since it was registered
            self._skip(index, f"could not be read again: {exc}")
            return
        self._check_frame(frame, index)
        wins = None
        if needs_focus:
            assert opened.proxy is not None
            measure = focus.measure(
                opened.proxy,
                placed.warp,
                placed.gain,
                self._size,
                self._method.focus_sigma,
                placed.valid,
            )
            wins = self._depth.update(measure, index)
        del opened
        self._method.start_frame(FrameContext(wins, self._pyramid.low_luma()))
        self._merge_tiles(frame, placed.warp, placed.gain, placed.valid)
        whole = Rect(0, 0, *self._size)
        self._coverage = (placed.valid or whole).intersect(self._coverage or whole)

    def _merge_tiles(
        self,
        frame: np.ndarray,
        warp: Matrix | None,
        gain: float,
        valid: Rect | None,
    ) -> None:
        assert self._size is not None and self._pyramid is not None and self._method is not None
        pyramid, method = self._pyramid, self._method
        lw, lh = level_size(self._size, TILE_LEVELS)
        low_luma = np.zeros((lh, lw), np.int16)
        low_chroma = np.zeros((lh, lw, 2), np.int16)
        low_weight = np.zeros((lh, lw), np.float32)
        interp = cv2.INTER_CUBIC if self.options.interpolation == "cubic" else cv2.INTER_LINEAR
        margin = -(-(method.reach + _PYRAMID_CONTEXT) // 8) * 8
        size = self.options.tile or pick_tile(
            self._size, margin, 1 << TILE_LEVELS, default_workers()
        )
        tiles = tile_grid(self._size, size, margin, 1 << TILE_LEVELS)

        def work(tile_index: int) -> None:
            tile = tiles[tile_index]
            # No name for the Y/CrCb planes: decompose_tile turns them into bands in place.
            bands = decompose_tile(
                *warped_ycc(frame, warp, tile.outer, interp, gain, self.bgr), gain
            )
            weight = pyramid.merge_tile(tile, bands, method.tile_weights(tile, bands, valid))
            low = scale_rect(tile.inner, TILE_LEVELS)
            inner = tile.inner_in_outer(TILE_LEVELS)
            rows, cols = slice(low.y0, low.y1), slice(low.x0, low.x1)
            low_luma[rows, cols] = bands.luma_low[inner]
            low_chroma[rows, cols] = bands.chroma_low[inner]
            low_weight[rows, cols] = weight

        phases = tile_phases(tiles, size, margin)
        if self._pool is None:
            for phase in phases:
                for i in phase:
                    work(i)
        else:
            with opencv_single_threaded():
                for phase in phases:  # a phase's tiles in parallel, the phases in order
                    for _ in self._pool.map(work, phase):
                        pass
        pyramid.merge_coarse(low_luma, low_chroma, low_weight)
        method.end_frame()
        return_free_heap()

    def _crop(self) -> Rect:
        assert self._size is not None
        whole = Rect(0, 0, *self._size)
        if not self.options.crop or self._coverage is None:
            return whole
        return self._coverage


def _resolve_reference(reference: Reference, count: int | None) -> int:
    if isinstance(reference, int) and not isinstance(reference, bool):
        if reference < 0 or (count is not None and reference >= count):
            raise StackError(
                f"reference frame {reference} is outside the stack (0–{(count or 1) - 1})"
            )
        return reference
    if reference == "first":
        return 0
    if count is None:
        raise StackError(
            f"reference {reference!r} needs the frame count; pass count= or use 'first'"
        )
    if reference == "last":
        return count - 1
    if reference == "middle":
        return count // 2
    raise StackError(f"unknown reference {reference!r} (use a frame number, first, middle or last)")


# Reads a deferred frame back: its pixels, and its proxy when the argument is True.
Reopen = Callable[[bool], OpenedFrame]


@dataclass(frozen=True)
class _Placed:
    """A frame on its way into the pyramid: reference pixel → frame pixel (None: the
    reference itself), gain, and the output area it covers (None: all)."""

    index: int
    warp: Matrix | None
    gain: float
    valid: Rect | None


def _reopen_file(path: Path, bgr: bool) -> Reopen:
    """A frame added as its file: read back the same way, so it gets the same proxy."""
    return lambda proxy: read_frame_file(path, bgr=bgr, proxy=proxy)


def _reopen_pixels(path: Path, bgr: bool) -> Reopen:
    """A frame added as pixels, with the file that holds them."""
    return lambda proxy: OpenedFrame.of_pixels([read_frame(path, bgr=bgr)], bgr, proxy=proxy)


def _reopen_spilled(path: Path, bgr: bool) -> Reopen:
    def reopen(proxy: bool) -> OpenedFrame:
        frame = np.load(path, allow_pickle=False)
        path.unlink(missing_ok=True)
        return OpenedFrame.of_pixels([frame], bgr, proxy=proxy)

    return reopen
