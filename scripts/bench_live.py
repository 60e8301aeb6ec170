#!/usr/bin/env python3
"""Result latency of a live 12 MP stack: from the last frame handed to the stacker to
the finished, written result, against the time the stacker takes to fuse one frame.

The rig's own stacking worker (``rig.jobs.stacking.StackWorker``, the default plan:
JPEG result, depth map) is fed the cached 12 MP bench frames (``bench_scenes``) as the
rig feeds it JPEG frames — by path, the worker decoding each one (from the page cache) —
each as soon as the worker is done with the one before (plus ``--interval``
seconds: the rig's settle and exposure), as on a rig whose camera the stacker keeps up
with.  Frame time = the
worker's own per-frame fusing time (a moving average) before the last frame; a live
stack fuses with one core fewer than there are (the camera's), the last frame with all.

    python scripts/bench_live.py                 # 30 frames, 3 runs
    python scripts/bench_live.py --frames 10 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_scenes import DEFAULT_CACHE, ensure_rendered, subset_indices

from rig.job_files import JobFiles
from rig.jobs.stacking import StackWorker, Ticket
from rig.plan import StackPlan


def one_run(frames: list[Path], interval: float | None) -> tuple[float, float]:
    """(seconds from the last frame's hand-over to the written result, frame time)."""
    plan = StackPlan(start_mm=10.0, end_mm=12.0, count=len(frames))
    with tempfile.TemporaryDirectory(prefix="macrorig-live-") as tmp:
        files = JobFiles(Path(tmp), "live")
        files.create()
        done = threading.Semaphore(0)  # released once per frame fused (and previewed)
        frame_time = [0.0]  # the worker's own figure before the last frame

        def progress(fused: int, seconds_per_frame: float) -> None:
            if fused < len(frames):
                frame_time[0] = seconds_per_frame
            done.release()

        worker = StackWorker(
            plan,
            len(frames),
            files,
            frame_paths=frames,
            nice=0,
            on_progress=progress,
        )
        worker.start()
        handed = 0.0
        for i, path in enumerate(frames):
            # A camera the stacker keeps up with: the frame before is fused when this one
            # comes (the frames before the reference are only registered).
            if i > 0 and not done.acquire(timeout=600):
                raise SystemExit("the stacker stopped")
            if interval:
                time.sleep(interval)
            handed = time.monotonic()
            worker.submit(Ticket(i, path, None))
        worker.finish(timeout=600)
        return time.monotonic() - handed, frame_time[0]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=float, help="s between frames (default: see above)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    stack, _ = ensure_rendered("bench", (4056, 3040), 200, cache=args.cache)
    frames = [stack.frames[i] for i in subset_indices(200, args.frames)]
    latencies, frame_times = [], []
    for run in range(args.runs):
        latency, frame_time = one_run(frames, args.interval)
        latencies.append(latency)
        frame_times.append(frame_time)
        print(
            f"run {run + 1}: result {latency:.2f} s after the last frame; "
            f"fusing one frame {frame_time:.2f} s ({latency / frame_time:.2f} frame-times)",
            flush=True,
        )
    latency, frame_time = statistics.median(latencies), statistics.median(frame_times)
    print(
        f"\n{args.frames} frames of 4056×3040: result {latency:.2f} s after the last frame "
        f"(median of {args.runs}); fusing one frame {frame_time:.2f} s: "
        f"{latency / frame_time:.2f} frame-times (target ≤ 1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
