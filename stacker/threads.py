"""OpenCV's own threads while the stacker runs its tile workers.

OpenCV parallelises many calls over all cores by itself.  When two or more of our tile
workers already keep every core busy, its threads only add contention (measured at
12 MP on 2 cores: ~7 % more CPU time per frame).  While any stream fuses tiles on a pool,
OpenCV runs single-threaded; the setting is process-wide, so it is counted and restored
once the last such stream is done.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2

_lock = threading.Lock()
_holders = 0
_saved = 0


@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    global _holders, _saved
    with _lock:
        if _holders == 0:
            _saved = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                cv2.setNumThreads(_saved)
