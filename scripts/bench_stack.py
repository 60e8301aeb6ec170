#!/usr/bin/env python3
"""Benchmark the stacker on simulated stacks with ground truth: speed, peak memory, quality.

Default: the deep-stack series.  A 200-frame stack of the bench scene at the Pi HQ
camera's 4056×3040 is rendered once (cached), then evenly spaced subsets of 10, 30 and
200 frames covering the same depth are stacked with ``macrorig stack`` in a child
process, several runs each; printed per subset: median wall time, seconds per frame,
peak RSS of the child, PSNR against the renderer's ground truth, and how far the frames
were put from where the renderer put them (median and worst frame, px).

``--anchors``: macrorig beside the anchor a user would pick instead,
``align_image_stack -m -C`` + ``enfuse --hard-mask …`` (``stacker.measure.enfuse``), on
the very same frame files in the same run: every scene kind of the renderer at 2–3 MP,
plus the bench scene at 12 MP; per scene and tool: PSNR, halo PSNR (±12 px around depth
jumps larger than 5 % of the depth range, from the true depth), wall time, peak RSS, and
how far each tool's registration put the frames.  align_image_stack's control points
sit 0.5–3 px off on frames whose defocus differs, and along a 20-frame chain that adds up
to a fraction of a degree of roll (tens of px at the corners), so enfuse is also run on
macrorig's alignment (``enfuse@mr``) and on the exact, rendered one (``enfuse@true``):
the fusion alone.  The last line compares macrorig with the best of the three per scene.

    python scripts/bench_stack.py                          # 10, 30, 200 frames, 3 runs each
    python scripts/bench_stack.py --counts 10 30 --runs 5 --size 2028x1520 --frames 60
    python scripts/bench_stack.py --anchors                # 6 scenes + 12 MP bench
    python scripts/bench_stack.py --anchors --kinds stalk layers --no-big
    python scripts/bench_stack.py --anchors --baseline /tmp/main   # and today's macrorig

Wall times and peak RSS are medians over ``--runs`` runs (the anchor: ``--anchor-runs``);
other processes share the cores, so say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from bench_scenes import DEFAULT_CACHE, CachedStack, ensure_rendered, subset_indices

from rig.sim.render import SCENE_KINDS
from stacker.measure import enfuse
from stacker.measure.child import run_measured
from stacker.measure.quality import depth_edge_band, psnr

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Score:
    tool: str
    scene: str
    size: str
    frames: int
    psnr: float
    halo_psnr: float
    wall_s: float
    peak_rss_mb: float
    walls: list[float]
    cpu_s: float = float("nan")
    # Where the frames were put against where the renderer put them (px, worst corner):
    # median and worst frame.
    misregistration: tuple[float, float] = (float("nan"), float("nan"))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="4056x3040", help="the large frames (12 MP)")
    ap.add_argument("--frames", type=int, default=200, help="large frames rendered")
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 30, 200])
    ap.add_argument("--runs", type=int, default=3, help="macrorig runs per stack (median)")
    ap.add_argument("--scene", default="bench", help="scene of the large stack")
    ap.add_argument("--method", default="pyramid")
    ap.add_argument("--anchors", action="store_true", help="beside align_image_stack + enfuse")
    ap.add_argument("--kinds", nargs="+", default=list(SCENE_KINDS), choices=SCENE_KINDS)
    ap.add_argument("--scene-size", default="1920x1440", help="--anchors: the 2–3 MP scenes")
    ap.add_argument("--scene-frames", type=int, default=20, help="--anchors: their frames")
    ap.add_argument("--big-count", type=int, default=30, help="--anchors: frames at 12 MP")
    ap.add_argument("--no-big", action="store_true", help="--anchors: skip the 12 MP stack")
    ap.add_argument("--anchor-runs", type=int, default=1, help="--anchors: enfuse runs")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="also run macrorig from this source tree (e.g. `git archive main` unpacked)",
    )
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    big = parse_size(args.size)
    if args.anchors:
        if gone := enfuse.missing():
            raise SystemExit(f"{' and '.join(gone)} not found: {enfuse.INSTALL_HINT}")
        scores = anchors(args, big)
    else:
        scores = series(args, big)
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in scores], indent=1))
    return 0


def parse_size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def series(args: argparse.Namespace, size: tuple[int, int]) -> list[Score]:
    stack, _ = ensure_rendered(args.scene, size, args.frames, cache=args.cache)
    print(f"{args.frames} frames of {size[0]}×{size[1]} '{args.scene}', method {args.method}")
    print(f"median of {args.runs} run(s) per subset, {os.cpu_count()} cores\n")
    header = (
        f"{'code':<9} {'frames':>6} {'wall s':>8} {'s/frame':>8} {'CPU s/frame':>12} "
        f"{'peak RSS MB':>12} {'PSNR dB':>8} {'halo dB':>8} {'misreg px':>11} {'runs (s)':>24}"
    )
    print(header)
    print("-" * len(header))
    scores: list[Score] = []
    for count in args.counts:
        if count > args.frames:
            print(f"{'':<9} {count:>6}  (more than the {args.frames} rendered frames; skipped)")
            continue
        subset = subset_indices(args.frames, count)
        for code, tool in codes(args):
            s, _ = macrorig(stack, subset, args.runs, args.method, code, tool)
            scores.append(s)
            print(
                f"{tool:<9} {count:>6} {s.wall_s:8.1f} {s.wall_s / count:8.2f} "
                f"{s.cpu_s / count:12.2f} {s.peak_rss_mb:12.0f} {s.psnr:8.2f} "
                f"{s.halo_psnr:8.2f} {s.misregistration[0]:5.2f}/{s.misregistration[1]:5.2f} "
                f"{' '.join(f'{x:.1f}' for x in s.walls):>24}",
                flush=True,
            )
    return scores


def codes(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """The source trees to run ``macrorig stack`` from: this one, and --baseline."""
    return [(ROOT, "macrorig")] + ([(args.baseline, "today")] if args.baseline else [])


def anchors(args: argparse.Namespace, big: tuple[int, int]) -> list[Score]:
    small = parse_size(args.scene_size)
    jobs = [(kind, small, args.scene_frames, args.scene_frames) for kind in args.kinds]
    if not args.no_big:
        jobs.append((args.scene, big, args.frames, args.big_count))
    stacks = [ensure_rendered(kind, size, n, cache=args.cache)[0] for kind, size, n, _ in jobs]
    print(
        f"macrorig ({args.method}, median of {args.runs} runs) beside align_image_stack + "
        f"enfuse (median of {args.anchor_runs}) on the same frames; {os.cpu_count()} cores.\n"
        "enfuse@mr: enfuse on the frames as macrorig aligned them (the fusion alone)\n"
        "enfuse@true: enfuse on the frames placed exactly as rendered (no registration error)"
        + (f"\ntoday: macrorig from {args.baseline}" if args.baseline else "")
        + "\n"
    )
    tools = [tool for _, tool in codes(args)] + ["enfuse", "enfuse@mr", "enfuse@true"]
    timed = [tool for tool in tools if "@" not in tool]
    names = " ".join(f"{t:>11}" for t in tools)
    header = f"{'scene':<11} {'size':>9} {'frames':>6} | PSNR dB {names} | halo dB {names}"
    header += f" | wall s {' '.join(f'{t:>8}' for t in timed)}"
    header += f" | peak RSS MB {' '.join(f'{t:>8}' for t in timed)}"
    header += f" | misreg px {' '.join(f'{t:>11}' for t in ('macrorig', 'enfuse'))}"
    print(header)
    print("-" * len(header))
    scores: list[Score] = []
    for stack, (kind, _, rendered, count) in zip(stacks, jobs, strict=True):
        subset = subset_indices(rendered, count)
        row: dict[str, Score] = {}
        for code, tool in codes(args):
            row[tool], report = macrorig(stack, subset, args.runs, args.method, code, tool)
            if tool == "macrorig":
                ours = report
        row["enfuse"] = anchor(stack, subset, args.anchor_runs)
        row["enfuse@mr"] = enfuse_on_our_alignment(stack, subset, ours)
        row["enfuse@true"] = enfuse_on_true_alignment(stack, subset, ours)
        scores += row.values()
        print(
            f"{kind:<11} {size_label(stack):>9} {count:>6} | {'':7} "
            + " ".join(f"{row[t].psnr:11.2f}" for t in tools)
            + f" | {'':7} "
            + " ".join(f"{row[t].halo_psnr:11.2f}" for t in tools)
            + f" | {'':6} "
            + " ".join(f"{row[t].wall_s:8.1f}" for t in timed)
            + f" | {'':11} "
            + " ".join(f"{row[t].peak_rss_mb:8.0f}" for t in timed)
            + f" | {'':9} "
            + " ".join(
                "{:5.1f}/{:5.1f}".format(*row[t].misregistration) for t in ("macrorig", "enfuse")
            ),
            flush=True,
        )
    for tool in tools:
        mine = [s for s in scores if s.tool == tool]
        halos = [s.halo_psnr for s in mine if not np.isnan(s.halo_psnr)]
        overall = statistics.mean(s.psnr for s in mine)
        print(
            f"mean {tool:<9}: PSNR {overall:.2f} dB, "
            f"halo PSNR {statistics.mean(halos):.2f} dB ({len(halos)} scenes with depth jumps)"
        )
    print_bar(scores)
    return scores


def print_bar(scores: list[Score]) -> None:
    """The fair bar: per scene, the best of enfuse end to end, on macrorig's alignment and on
    the exact alignment; macrorig's margin over it, overall and in the halo band."""
    ours = [s for s in scores if s.tool == "macrorig"]
    overall, halo = [], []
    for mine in ours:
        rivals = [
            s
            for s in scores
            if s.tool.startswith("enfuse") and (s.scene, s.size) == (mine.scene, mine.size)
        ]
        overall.append(mine.psnr - max(s.psnr for s in rivals))
        if not np.isnan(mine.halo_psnr):
            halo.append(mine.halo_psnr - max(s.halo_psnr for s in rivals))
    print(
        f"macrorig - best enfuse per scene: PSNR mean {statistics.mean(overall):+.2f} dB "
        f"(worst {min(overall):+.2f}), halo mean {statistics.mean(halo):+.2f} dB "
        f"(worst {min(halo):+.2f})"
    )


def macrorig(
    stack: CachedStack,
    subset: list[int],
    runs: int,
    method: str,
    code: Path = ROOT,
    tool: str = "macrorig",
) -> tuple[Score, dict]:
    """``macrorig stack`` run from the source tree ``code``: the median run's figures, and
    the stack report (crop, reference, warps)."""
    frames = [stack.frames[i] for i in subset]
    walls, peaks, cpus = [], [], []
    with tempfile.TemporaryDirectory(prefix="macrorig-bench-") as tmp:
        out, rep = Path(tmp) / "out.png", Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "rig", "stack", *map(str, frames), "-o", str(out)]
        cmd += ["--method", method, "--report", str(rep)]
        for _ in range(runs):
            # ``python -m`` puts the working directory first on the path: ``code``'s
            # rig and stacker are what runs.
            run = run_measured(cmd, cwd=code).check(f"macrorig stack ({code})")
            walls.append(run.wall_s)
            peaks.append(run.peak_rss_mb)
            cpus.append(run.cpu_s)
        report = json.loads(rep.read_text())
        result = read_rgb(out)
    c = report["crop"]
    quality = score(stack, subset[report["reference"]], result, (c["x"], c["y"]))
    figures = summary(tool, stack, subset, quality, walls, peaks, cpus)
    figures.misregistration = misregistration(stack, subset, report)
    return figures, report


def misregistration(stack: CachedStack, subset: list[int], report: dict) -> tuple[float, float]:
    """Median and worst over the fused frames of the largest distance (px), over the
    frame's corners, between where macrorig's warp and the renderer's put a pixel."""
    w, h = stack.size
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T

    def full(m: np.ndarray) -> np.ndarray:
        return np.vstack([m, [0.0, 0.0, 1.0]])

    reference = full(stack.transform(subset[report["reference"]]))
    errors = []
    for i, frame in enumerate(report["frames"]):
        if frame["status"] == "fused":
            true = full(stack.transform(subset[i])) @ np.linalg.inv(reference)
            est = full(np.asarray(frame["warp"], np.float64))
            errors.append(float(np.hypot(*((est - true) @ corners)[:2]).max()))
    return float(np.median(errors)), float(max(errors))


def anchor(stack: CachedStack, subset: list[int], runs: int) -> Score:
    frames = [stack.frames[i] for i in subset]
    walls, peaks = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="macrorig-enfuse-") as tmp:
            try:
                result = enfuse.align_and_fuse(frames, Path(tmp))
            except RuntimeError as exc:  # align_image_stack gives up on some stacks
                print(f"{stack.kind}: {exc}", file=sys.stderr)
                nan = float("nan")
                return summary("enfuse", stack, subset, (nan, nan), [nan], [nan])
            misplaced = anchor_misregistration(stack, subset, Path(tmp), result.offset)
        walls.append(result.wall_s)
        peaks.append(result.peak_rss_mb)
    quality = score(stack, subset[0], result.image, result.offset)
    figures = summary("enfuse", stack, subset, quality, walls, peaks)
    figures.misregistration = misplaced
    return figures


def anchor_misregistration(
    stack: CachedStack, subset: list[int], workdir: Path, offset: tuple[int, int]
) -> tuple[float, float]:
    """Median and worst over the frames of how far (px, worst corner) align_image_stack
    put each frame from where the renderer's geometry puts it: each aligned TIFF against
    the same frame warped exactly into the first frame's geometry, fitted by ECC at a
    quarter of the size (both show the same blur, so the fit is only the misplacement)."""
    first = np.vstack([stack.transform(subset[0]), [0.0, 0.0, 1.0]])
    aligned = sorted(workdir.glob("aligned*.tif"))
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    errors = []
    for path, i in zip(aligned, subset, strict=True):
        theirs = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., :3]
        h, w = theirs.shape[:2]
        exact = first @ np.linalg.inv(np.vstack([stack.transform(i), [0.0, 0.0, 1.0]]))
        exact[:2, 2] -= offset
        ideal = cv2.warpAffine(read_rgb(stack.frames[i]), exact[:2], (w, h), flags=cv2.INTER_CUBIC)
        small = (w // 4, h // 4)
        a, b = (
            cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), small, interpolation=cv2.INTER_AREA)
            for img in (theirs[..., ::-1], ideal)
        )
        fit = np.eye(2, 3, dtype=np.float32)
        try:
            _, fit = cv2.findTransformECC(a, b, fit, cv2.MOTION_AFFINE, crit, None, 3)
        except cv2.error:  # no convergence: misplaced beyond what ECC recovers
            errors.append(float("inf"))
            continue
        sw, sh = small
        corners = np.array([[0, 0, 1], [sw - 1, 0, 1], [0, sh - 1, 1], [sw - 1, sh - 1, 1]]).T
        shift = (fit.astype(np.float64) - np.eye(2, 3)) @ corners
        errors.append(4.0 * float(np.hypot(*shift).max()))
    return float(np.median(errors)), float(max(errors))


def enfuse_on_our_alignment(stack: CachedStack, subset: list[int], report: dict) -> Score:
    """enfuse on the frames warped (and gain-corrected) as macrorig registered them, cropped
    like macrorig's result: the same alignment, so only the fusion differs."""
    placed = [
        (i, np.asarray(frame["warp"], np.float64), frame["gain"])
        for i, frame in enumerate(report["frames"])
        if frame["status"] == "fused"
    ]
    return enfuse_on_alignment("enfuse@mr", stack, subset, report, placed)


def enfuse_on_true_alignment(stack: CachedStack, subset: list[int], report: dict) -> Score:
    """enfuse on the frames warped as the renderer placed them (exact registration; no
    gain correction, as align_image_stack does none), cropped like macrorig's result:
    what enfuse's fusion reaches when registration is perfect."""
    reference = np.vstack([stack.transform(subset[report["reference"]]), [0.0, 0.0, 1.0]])
    placed = [
        (i, (np.vstack([stack.transform(s), [0.0, 0.0, 1.0]]) @ np.linalg.inv(reference))[:2], 1.0)
        for i, s in enumerate(subset)
    ]
    return enfuse_on_alignment("enfuse@true", stack, subset, report, placed)


def enfuse_on_alignment(
    tool: str,
    stack: CachedStack,
    subset: list[int],
    report: dict,
    placed: list[tuple[int, np.ndarray, float]],
) -> Score:
    """enfuse on frames ``(index in subset, warp: reference pixel → frame pixel, gain)``
    warped into macrorig's reference geometry, scored on macrorig's crop."""
    with tempfile.TemporaryDirectory(prefix="macrorig-enfuse-") as tmp:
        paths = []
        for i, warp, gain in placed:
            img = cv2.cvtColor(read_rgb(stack.frames[subset[i]]), cv2.COLOR_RGB2BGR)
            img = cv2.warpAffine(
                img,
                warp,
                stack.size,
                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT101,
            )
            if gain != 1.0:
                img = cv2.convertScaleAbs(img, alpha=gain)
            paths.append(Path(tmp) / f"frame_{i:04d}.tif")
            cv2.imwrite(str(paths[-1]), img)
        result = enfuse.fuse(paths, Path(tmp))
    c = report["crop"]
    image = result.image[c["y"] : c["y"] + c["height"], c["x"] : c["x"] + c["width"]]
    quality = score(stack, subset[report["reference"]], image, (c["x"], c["y"]))
    return summary(tool, stack, subset, quality, [result.wall_s], [result.peak_rss_mb])


def summary(
    tool: str,
    stack: CachedStack,
    subset: list[int],
    quality: tuple[float, float],
    walls: list[float],
    peaks: list[float],
    cpus: list[float] | None = None,
) -> Score:
    """One tool's figures on one stack: quality, and the median of its runs."""
    cpu = statistics.median(cpus) if cpus else float("nan")
    return Score(
        tool,
        stack.kind,
        size_label(stack),
        len(subset),
        *quality,
        statistics.median(walls),
        statistics.median(peaks),
        walls,
        cpu,
    )


def score(
    stack: CachedStack, reference: int, image: np.ndarray, offset: tuple[int, int]
) -> tuple[float, float]:
    """(PSNR, halo PSNR) of ``image`` whose first pixel is ``offset`` in frame
    ``reference``'s geometry; the halo band is found on the whole frame, then cropped."""
    x, y = offset
    h, w = image.shape[:2]
    region = (slice(y, y + h), slice(x, x + w))
    truth = stack.truth(reference)[region]
    band = depth_edge_band(stack.truth_depth(reference), stack.depth_span)[region]
    halo = psnr(image, truth, band) if band.any() else float("nan")  # no depth jumps
    return psnr(image, truth), halo


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        raise SystemExit(f"{path}: cannot be read")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def size_label(stack: CachedStack) -> str:
    return f"{stack.size[0]}x{stack.size[1]}"


if __name__ == "__main__":
    sys.exit(main())
