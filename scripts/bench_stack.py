#!/usr/bin/env python3
"""Benchmark the stacker on 12 MP simulated stacks: speed, peak memory, quality.

Renders (once, cached) a 100-frame stack of the simulated bench scene at the Pi HQ
camera's 4056×3040, then stacks evenly spaced subsets of 10, 30 and 100 frames with
``macrorig stack`` in a child process, several runs each, and prints per subset the
median wall time, seconds per frame, megapixel-frames per second, peak RSS of the child
(``wait4`` rusage) and PSNR of the result against the renderer's ground truth.

    python scripts/bench_stack.py                 # 10, 30, 100 frames, 3 runs each
    python scripts/bench_stack.py --counts 10 30 --runs 5 --size 2028x1520
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from rig.sim.render import default_optics, ground_truth, make_scene, render_frame, scene_size_for

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="4056x3040")
    ap.add_argument("--frames", type=int, default=100, help="frames rendered (the largest subset)")
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 30, 100])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scene", default="bench")
    ap.add_argument("--method", default="pyramid")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "macrorig-bench",
    )
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    cache = args.cache / f"{args.scene}-{w}x{h}-{args.frames}"
    frames, rendered = ensure_rendered(cache, args.scene, (w, h), args.frames)
    if rendered:
        # Start afresh: a child's peak RSS (wait4) counts what it inherited at fork, and
        # rendering left this process large.
        os.execv(sys.executable, [sys.executable, *sys.argv])
    print(
        f"stack: {args.frames} frames of {w}×{h} ({w * h / 1e6:.1f} MP) '{args.scene}' in {cache}"
    )
    print(f"method {args.method}, {args.runs} run(s) per subset, {os.cpu_count()} cores\n")
    header = (
        f"{'frames':>6} {'wall s':>8} {'s/frame':>8} {'MPf/s':>7} {'peak RSS MB':>12} "
        f"{'PSNR dB':>8} {'runs (s)':>24}"
    )
    print(header)
    print("-" * len(header))
    for count in args.counts:
        if count > args.frames:
            print(f"{count:>6}  (more than the {args.frames} rendered frames; skipped)")
            continue
        subset = [frames[i] for i in subset_indices(args.frames, count)]
        walls, peaks, psnrs = [], [], []
        for _ in range(args.runs):
            wall, peak, psnr = run_once(subset, cache, args.method)
            walls.append(wall)
            peaks.append(peak)
            psnrs.append(psnr)
        med = statistics.median(walls)
        print(
            f"{count:>6} {med:8.1f} {med / count:8.2f} {count * w * h / 1e6 / med:7.1f} "
            f"{statistics.median(peaks):12.0f} {statistics.median(psnrs):8.2f} "
            f"{' '.join(f'{x:.1f}' for x in walls):>24}",
            flush=True,
        )
    return 0


def subset_indices(total: int, count: int) -> list[int]:
    return [round(i * (total - 1) / (count - 1)) for i in range(count)]


def ensure_rendered(
    cache: Path, kind: str, size: tuple[int, int], count: int
) -> tuple[list[Path], bool]:
    """The frames' paths, and whether they had to be rendered now."""
    meta = cache / "stack.json"
    names = [cache / f"frame_{i:03d}.jpg" for i in range(count)]
    if meta.exists() and all(p.exists() for p in names):
        return names, False
    cache.mkdir(parents=True, exist_ok=True)
    optics = default_optics(size[0])
    depth_range = (10.0, 12.0)
    focus = np.linspace(9.9, 12.1, count)
    scene_size = scene_size_for(size, optics, focus, depth_range)
    started = time.monotonic()
    print(f"rendering {count} frames of {size[0]}×{size[1]} into {cache} (once)…", flush=True)
    scene = make_scene(kind, scene_size, seed=1, depth_range=depth_range)
    transforms = []
    for i, f in enumerate(focus):
        frame = render_frame(scene, float(f), optics, seed=1000 + i, out_size=size)
        cv2.imwrite(
            str(names[i]),
            cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, 95],
        )
        transforms.append(frame.transform.tolist())
        print(f"\r  {i + 1}/{count}", end="", flush=True)
    print(f"\n  done in {time.monotonic() - started:.0f} s")
    # Ground truth in the geometry of every frame that can be a subset's reference.
    refs = {subset_indices(count, n)[n // 2] for n in range(2, count + 1)}
    for r in sorted(refs):
        truth = ground_truth(scene, np.asarray(transforms[r]), size)
        cv2.imwrite(str(cache / f"truth_{r:03d}.png"), cv2.cvtColor(truth, cv2.COLOR_RGB2BGR))
    meta.write_text(
        json.dumps(
            {"kind": kind, "size": size, "focus_mm": focus.tolist(), "transforms": transforms}
        )
    )
    return names, True


def run_once(frames: list[Path], cache: Path, method: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(prefix="macrorig-bench-") as tmp:
        out, rep = Path(tmp) / "out.png", Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "rig",
            "stack",
            *map(str, frames),
            "-o",
            str(out),
            "--method",
            method,
            "--report",
            str(rep),
        ]
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        if status != 0:
            raise SystemExit(f"macrorig stack failed (status {status})")
        report = json.loads(rep.read_text())
        ref_index = int(frames[report["reference"]].stem.split("_")[1])
        truth = cv2.imread(str(cache / f"truth_{ref_index:03d}.png"))
        c = report["crop"]
        truth = truth[c["y"] : c["y"] + c["height"], c["x"] : c["x"] + c["width"]]
        result = cv2.imread(str(out))
        return wall, usage.ru_maxrss / 1024, psnr(result, truth)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Row by row, so this process stays small (see ``main``)."""
    total = 0.0
    for ra, rb in zip(a, b, strict=True):
        d = ra.astype(np.float32) - rb.astype(np.float32)
        total += float(np.dot(d.ravel(), d.ravel()))
    return float(10 * np.log10(255.0**2 * a.size / total))


if __name__ == "__main__":
    sys.exit(main())
