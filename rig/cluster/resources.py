"""How much memory one stack needs, as a Dask worker resource.

Every worker declares the memory it gives to stacks (``--resources MEMORY=<bytes>``, or
``resources={"MEMORY": …}`` for a ``LocalCluster``); every stack task asks for its
estimate, so the scheduler never runs more stacks on a worker at once than its memory
holds, however many threads the worker has.  The stacker's working set does not grow
with the number of frames, so the estimate is per pixel (``stacker.memory``: about
300 MB per 12 MP), with a floor for the fixed costs (pyramid levels, tile buffers, the
interpreter's share).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from stacker.memory import BYTES_PER_PIXEL

MEMORY = "MEMORY"  # the resource's name, in bytes (the name Dask's documentation uses)
FLOOR_BYTES = 64e6
# A Dask worker process's own resident memory (interpreter, Dask, numpy, OpenCV) beside
# its stacks: measured 367–372 MB peak for a worker running 12 MP stacks whose own share
# is ~270 MB (scripts/bench_cluster.py).
WORKER_OVERHEAD_BYTES = 100e6


def memory_for_stacks(memory_limit: int) -> int:
    """The MEMORY a worker of ``memory_limit`` bytes can give to stacks."""
    return int(max(FLOOR_BYTES, memory_limit - WORKER_OVERHEAD_BYTES))


def stack_memory(pixels: int) -> int:
    """Bytes one stack of ``pixels``-pixel frames needs on a worker."""
    return int(max(FLOOR_BYTES, BYTES_PER_PIXEL * pixels))


def worker_memory(scheduler_info: dict[str, Any]) -> list[float]:
    """The MEMORY each worker declares (workers declaring none are left out)."""
    workers = scheduler_info.get("workers", {})
    found = []
    for worker in workers.values():
        value = (worker.get("resources") or {}).get(MEMORY)
        if value is not None:
            found.append(float(value))
    return found


def frame_pixels(frame: Path | IO[bytes]) -> int:
    """Width × height of a frame, from its header (the pixels are not decoded)."""
    from PIL import Image

    with Image.open(frame) as im:
        width, height = im.size
    return int(width * height)
