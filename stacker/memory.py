"""Keep the process's resident memory close to what numpy actually holds.

glibc raises its mmap threshold after large blocks are freed, after which frame-sized
temporaries come from the heap and fragment it: RSS creeps up although nothing leaks.
Fixing the mmap threshold at 8 MB sends frame-sized buffers to mmap (returned when
freed) and keeps tile-sized ones on the heap; the trim threshold decides how much free
heap is kept for the next tile instead of being returned and faulted in again — 16 MB
measured as the best trade (12 MP, 30 frames: 282 MB peak at 0.84 s/frame; 64 MB gave
0.62 s/frame but 321 MB); capping the arenas stops each worker thread from keeping a
heap of its own.  Call once, early, in a process that stacks (the CLI, the daemon); a
no-op off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Callable

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def limit_heap_fragmentation(
    mmap_threshold: int = 8 * 1024 * 1024, trim_threshold: int = 16 * 1024 * 1024, arenas: int = 2
) -> bool:
    """Returns True when the allocator accepted the settings."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = mallopt(_M_ARENA_MAX, arenas) == 1 and ok
    return mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and ok


def return_free_heap() -> None:
    """Give the heap's free memory back to the kernel (glibc's malloc_trim; a no-op
    elsewhere).  Called once a frame's tiles are merged: the workers' freed tile
    temporaries would otherwise stay resident through the next frame's decoding and
    registration, the peak (12 MP, 1024 px tiles: 287 → 273 MB measured; a few ms of
    page faults a frame to fault them back in)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
    return trim


# What one stack's process peaks at, per frame pixel: 12 MP (12.3 MP) peaked at
# 283–302 MB over 10–200 frames (23.0–24.5 bytes a pixel; README, "Deep stacks, speed
# and memory"), and 25 leaves a little room.  The biggest frame ``macrorig stack``
# takes, checked from the files' headers before any decoding, is what the computer has
# free over this, and never more than 150 MP (``MACRORIG_MAX_PIXELS`` overrides it); a
# cluster worker's share of memory per stack is estimated from it too
# (``rig.cluster.resources``).
BYTES_PER_PIXEL = 25
MAX_PIXELS = 150_000_000
MAX_PIXELS_ENV = "MACRORIG_MAX_PIXELS"


def available_memory() -> int | None:
    """Bytes the kernel says a new process could use (MemAvailable), None off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def frame_pixel_limit() -> int:
    """The most pixels a frame may have to be stacked here (see :data:`BYTES_PER_PIXEL`)."""
    override = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if override:
        try:
            return max(1, int(float(override)))
        except ValueError:
            pass  # a broken override is ignored, the computed limit holds
    available = available_memory()
    if available is None:
        return MAX_PIXELS
    return max(1, min(MAX_PIXELS, available // BYTES_PER_PIXEL))
