"""Saving frames off the capture path: encode, write atomically, record, hand on.

The capture loop hands each frame over and moves the rail on at once; this thread
encodes and saves it (tmp → fsync → rename → manifest) and then gives it to the stacking
worker — the pixels themselves when the worker is idle and the format keeps them
exactly, otherwise just the file's path (read back from the page cache), so a slow
stacker never makes memory grow.  A JPEG frame always goes by its path: the worker must
see the frame as saved, or a stack's pixels (and its health check, which compares each
frame with its neighbours) would depend on how busy the machine was, and a restack of the
same frames would differ.  At most ``depth`` frames wait here: if the disk is slower
than the camera, the capture loop waits (no frame is ever dropped).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rig.job_files import FrameEntry, JobFiles
from rig.jobs.stacking import Stacker, Ticket

_STOP = object()
LOSSLESS = frozenset({"png", "tif"})  # a file in these formats holds exactly the pixels


@dataclass
class _Pending:
    entry: FrameEntry
    image: np.ndarray


class FrameWriter:
    def __init__(
        self,
        files: JobFiles,
        fmt: str,
        stacker: Stacker | None,
        on_saved: Callable[[FrameEntry], None],
        depth: int = 2,
    ) -> None:
        self._files = files
        self._fmt = fmt
        self._stacker = stacker
        self._on_saved = on_saved
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"frames-{files.dir.name}", daemon=True
        )
        self._thread.start()

    def submit(self, entry: FrameEntry, image: np.ndarray) -> None:
        """Queue a frame (blocks while ``depth`` frames are already waiting).  Raises the
        writer's error (e.g. DiskFull) as soon as one has happened."""
        self.raise_error()
        self._queue.put(_Pending(entry, image))

    def entry(self, index: int, position: float, **meta: Any) -> FrameEntry:
        """The manifest record of frame ``index`` in this job's format."""
        return FrameEntry(
            index=index, file=self._files.frame_name(index, self._fmt), position=position, **meta
        )

    def close(self) -> None:
        """Wait until every queued frame is saved; then raise any error."""
        self._queue.put(_STOP)
        self._thread.join()
        self.raise_error()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain: the capture loop stops at its next submit
            assert isinstance(item, _Pending)
            try:
                entry = self._files.save_frame(item.entry, item.image, self._fmt)
                self._on_saved(entry)
            except BaseException as exc:  # the capture loop raises it at its next frame
                self._error = exc
                continue
            if self._stacker is not None:
                keep = item.image if self._fmt in LOSSLESS and self._stacker.idle else None
                self._stacker.submit(Ticket(entry.index, self._files.dir / entry.file, keep))
