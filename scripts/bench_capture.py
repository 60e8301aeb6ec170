#!/usr/bin/env python3
"""Benchmark the capture loop on the simulated bench: runner overhead and result latency.

Runs stacks with zero settle on the simulated bench (default camera 1014×760) and
measures, per frame, the loop's wall time minus the time spent moving the rail and
exposing (the simulated camera's render) — the runner's own overhead, target ≤ 20 ms.
Also: the time from the last capture to the finished result, against the stacker's
time to fuse one frame (target: within one frame's fusing time).

    python scripts/bench_capture.py              # 3 stacks of 30 frames
    python scripts/bench_capture.py --frames 60 --runs 5
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from rig.config import load_config
from rig.events import Event
from rig.plan import StackPlan
from rig.service import Rig

CONFIG = """
[rail]
steps_per_rev = 200
microsteps = 4
lead_mm = 1.0
max_speed_mm_s = 20.0
accel_mm_s2 = 400.0
backlash_mm = 0.05

[rail.homing]
fast_mm_s = 20.0
slow_mm_s = 2.0

[data]
dir = "{data}"
"""


class Timer:
    """Wraps a callable and adds up the time spent in it."""

    def __init__(self, fn):  # type: ignore[no-untyped-def]
        self.fn = fn
        self.total = 0.0

    def __call__(self, *a, **k):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.total += time.perf_counter() - started


def one_run(rig: Rig, frames: int, settle_s: float) -> tuple[list[float], float, float]:
    rail, camera = rig.devices.rail, rig.devices.camera  # type: ignore[union-attr]
    move, capture = Timer(rail.move_to), Timer(camera.capture)
    rail.move_to, camera.capture = move, capture  # type: ignore[method-assign]
    marks: list[tuple[float, float]] = []  # (wall time, move+capture time) at each frame
    done = threading.Event()
    finished_at = [0.0]

    def on_event(event: Event) -> None:
        if event.type == "frame":
            marks.append((time.perf_counter(), move.total + capture.total))
        elif event.type == "job" and event.data["job"]["state"] in ("done", "failed"):
            finished_at[0] = time.perf_counter()
            done.set()

    rig.bus.listen(on_event)
    plan = StackPlan(
        start_mm=9.8, end_mm=12.2, count=frames, settle_s=settle_s, return_to_start=False
    )
    rig.submit(plan)
    if not done.wait(600):
        raise SystemExit("the stack did not finish")
    rail.move_to, camera.capture = move.fn, capture.fn  # type: ignore[method-assign]
    overheads = []
    for (t0, d0), (t1, d1) in itertools.pairwise(marks):
        overheads.append((t1 - t0) - (d1 - d0) - settle_s)
    latency = finished_at[0] - marks[-1][0]
    per_frame_fuse = rig.runner.last_fuse_s
    return overheads, latency, per_frame_fuse


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="settle time (s); 0 measures overhead, a realistic 0.3 shows the latency "
        "when the stacker is not competing with back-to-back renders for the CPU",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="macrorig-bench-") as tmp:
        cfg_path = Path(tmp) / "rig.toml"
        cfg_path.write_text(CONFIG.format(data=Path(tmp) / "data"))
        rig = Rig(load_config(cfg_path), simulate=True)
        rig.open()
        try:
            rig.devices.rail.home()  # type: ignore[union-attr]
            all_overheads, latencies, fuses = [], [], []
            for run in range(args.runs):
                overheads, latency, fuse = one_run(rig, args.frames, args.settle)
                all_overheads.extend(overheads)
                latencies.append(latency)
                fuses.append(fuse)
                print(
                    f"run {run + 1}: overhead median {1000 * statistics.median(overheads):.1f} ms, "
                    f"max {1000 * max(overheads):.1f} ms; last capture → result {latency:.2f} s "
                    f"(fusing one frame {fuse:.2f} s)",
                    flush=True,
                )
        finally:
            rig.close()
    q = sorted(all_overheads)
    median, p95 = 1000 * statistics.median(q), 1000 * q[int(0.95 * (len(q) - 1))]
    latency, fuse = statistics.median(latencies), statistics.median(fuses)
    print(
        f"\nrunner overhead per frame ({len(q)} frames): median {median:.1f} ms, p95 {p95:.1f} ms"
        " (target ≤ 20 ms)"
    )
    print(
        f"with settle {args.settle:g} s: result {latency:.2f} s after the last capture "
        f"(median); fusing one frame takes {fuse:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
