#!/usr/bin/env python3
"""Benchmark stacking on a Dask cluster: N simulated 12 MP stacks restacked on a
``LocalCluster`` of W worker processes, beside the same N stacked one after another.

The frames come from the benchmarks' cached 200-frame bench stack at 4056×3040
(``bench_scenes.ensure_rendered``: rendered once, ~10 min, then reused); stack k takes
``--frames`` evenly spaced frames starting at frame k, so no two stacks are the same.
Each stack is a plain folder of symlinks to the cached frames, so the results go into a
temporary folder and the cache is never written.

- one after another: one child process runs every stack's task in turn, with the
  stacker's own tile threads (cores, up to 4); wall time, CPU seconds and peak RSS of
  that process (``stacker.measure.child``);
- on the cluster: ``LocalCluster(n_workers=W, processes=True, threads_per_worker=1)``,
  each worker declaring the MEMORY resource, each stack one task with cores / W tile
  threads; wall time from the first submit to the last result (cluster start-up is
  reported apart), per worker: stacks run, CPU seconds, peak RSS during a stack.

    nice python scripts/bench_cluster.py                 # 20 stacks × 10 frames, 2 workers
    nice python scripts/bench_cluster.py --stacks 4 --frames 5   # a quick look

Other processes share the cores: quote CPU seconds beside wall times, and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench_scenes import ensure_rendered, subset_indices

from rig.cluster.archive import find_stacks
from rig.cluster.dispatch import run_tasks
from rig.cluster.resources import MEMORY, memory_for_stacks
from stacker.measure.child import run_measured

ROOT = Path(__file__).resolve().parent.parent

_SEQUENTIAL = """
import json, sys
from rig.cluster.archive import find_stacks
from rig.cluster.task import run_stack_task
results = [run_stack_task(f.task) for f in find_stacks([sys.argv[1]], method=None)]
bad = [r.error for r in results if r.error]
if bad:
    sys.exit("; ".join(bad))
json.dump([r.seconds for r in results], open(sys.argv[2], "w"))
"""


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--stacks", type=int, default=20)
    ap.add_argument("--frames", type=int, default=10, help="frames per stack")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", default="4056x3040")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    source, _ = ensure_rendered("bench", (width, height), 200)
    cores = os.cpu_count() or 1
    figures: dict[str, object] = {
        "stacks": args.stacks,
        "frames_per_stack": args.frames,
        "size": args.size,
        "cores": cores,
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="macrorig-bench-cluster-") as tmp:
        sequential = Path(tmp) / "sequential"
        clustered = Path(tmp) / "cluster"
        for root in (sequential, clustered):
            make_archive(root, source.frames, args.stacks, args.frames)

        print(f"one after another: {args.stacks} stacks × {args.frames} frames …", flush=True)
        seconds_file = Path(tmp) / "seconds.json"
        measured = run_measured(
            [sys.executable, "-c", _SEQUENTIAL, str(sequential), str(seconds_file)], cwd=ROOT
        ).check("the sequential run")
        figures["sequential"] = {
            "wall_s": round(measured.wall_s, 1),
            "cpu_s": round(measured.cpu_s, 1),
            "peak_rss_mb": round(measured.peak_rss_mb),
            "per_stack_s": json.loads(seconds_file.read_text()),
        }

        print(f"on a LocalCluster of {args.workers} workers …", flush=True)
        figures["cluster"] = on_cluster(clustered, args.workers, max(1, cores // args.workers))
    figures["load_after"] = os.getloadavg()
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def make_archive(root: Path, frames: list[Path], stacks: int, per_stack: int) -> None:
    """``stacks`` plain folders of symlinks, stack k from frame k on."""
    span = len(frames) - stacks
    for k in range(stacks):
        folder = root / f"stack_{k:02d}"
        folder.mkdir(parents=True)
        for n, i in enumerate(subset_indices(span, per_stack)):
            (folder / f"frame_{n:03d}.jpg").symlink_to(frames[k + i])


def on_cluster(archive: Path, workers: int, threads: int) -> dict[str, object]:
    from distributed import Client, LocalCluster

    memory = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // workers
    started = time.monotonic()
    with (
        LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=1,
            memory_limit=memory,
            resources={MEMORY: memory_for_stacks(memory)},
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        start_up = time.monotonic() - started
        tasks = [f.task for f in find_stacks([str(archive)], threads=threads)]
        cpu_before = client.run(_cpu_seconds)
        began = time.monotonic()
        outcomes = run_tasks(client, tasks)
        wall = time.monotonic() - began
        cpu_after = client.run(_cpu_seconds)
    failed = [o.error for o in outcomes if o.status != "done"]
    if failed:
        raise SystemExit(f"stacks failed on the cluster: {failed}")
    per_worker: dict[str, dict[str, object]] = {}
    for o in outcomes:
        assert o.result is not None
        w = per_worker.setdefault(o.result.worker, {"stacks": 0, "peak_rss_mb": 0.0})
        w["stacks"] = int(str(w["stacks"])) + 1
        w["peak_rss_mb"] = max(float(str(w["peak_rss_mb"])), o.result.peak_rss_mb)
    for address, w in per_worker.items():
        w["cpu_s"] = round(cpu_after[address] - cpu_before[address], 1)
    return {
        "start_up_s": round(start_up, 1),
        "wall_s": round(wall, 1),
        "cpu_s": round(sum(cpu_after.values()) - sum(cpu_before.values()), 1),
        "threads_per_stack": threads,
        "per_stack_s": [o.result.seconds for o in outcomes if o.result],
        "workers": per_worker,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(figures: dict) -> None:
    seq, clu = figures["sequential"], figures["cluster"]
    print(
        f"\n{figures['stacks']} stacks × {figures['frames_per_stack']} frames at "
        f"{figures['size']}, {figures['cores']} cores, load before "
        f"{figures['load_before'][0]:.1f}, after {figures['load_after'][0]:.1f}"
    )
    print(f"{'':22} {'wall':>8} {'CPU':>8} {'peak RSS':>10}")
    print(
        f"{'one after another':22} {seq['wall_s']:7.1f}s {seq['cpu_s']:7.1f}s "
        f"{seq['peak_rss_mb']:8.0f}MB"
    )
    print(
        f"{'LocalCluster':22} {clu['wall_s']:7.1f}s {clu['cpu_s']:7.1f}s  (start-up "
        f"{clu['start_up_s']:.1f} s, {clu['threads_per_stack']} tile thread(s) per stack)"
    )
    for address, w in clu["workers"].items():
        print(
            f"  worker {address:15} {w['stacks']:3d} stacks  CPU {w['cpu_s']:7.1f}s  "
            f"peak RSS {w['peak_rss_mb']:6.0f}MB"
        )


if __name__ == "__main__":
    sys.exit(main())
