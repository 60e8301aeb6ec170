"""``macrorig stack``: focus-stack image files into one sharp image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rig.cli.errors import CliError
from rig.cli.health_text import summary_lines
from rig.cli.progress import ProgressBar
from stacker import (
    METHODS,
    ImageIOError,
    StackError,
    StackOptions,
    list_inputs,
    stack_files,
    write_result,
)
from stacker.files import check_outputs, report, write_report
from stacker.memory import limit_heap_fragmentation
from stacker.stream import Reference


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "stack",
        help="focus-stack image files into one sharp image",
        description="Align and fuse a focus stack. INPUT is image files (in capture order) "
        "or one folder whose JPEG/PNG/TIFF files are taken in name order.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="frames, or one folder of frames")
    p.add_argument("-o", "--output", required=True, help="result file: .jpg, .png or .tif (16-bit)")
    p.add_argument(
        "--method",
        choices=METHODS,
        default="pyramid",
        help="pyramid (default: sharpest detail per scale) or depthmap (smoothed depth)",
    )
    p.add_argument(
        "--depthmap", metavar="PATH", help="also write the depth map (8-bit PNG, near = bright)"
    )
    p.add_argument(
        "--reference",
        default="middle",
        metavar="N|first|middle|last",
        help="frame whose geometry the result keeps (N counts from 0 in input order)",
    )
    p.add_argument("--no-align", action="store_true", help="frames are already aligned")
    p.add_argument(
        "--full-size",
        action="store_true",
        help="keep the reference frame's size instead of cropping to what every frame covers",
    )
    p.add_argument(
        "--quality", type=_quality, default=95, metavar="Q", help="JPEG quality 1–100 (default 95)"
    )
    p.add_argument(
        "--far-first", action="store_true", help="the first frame is focused farthest (depth map)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads for per-tile work (default: cores, up to 4)",
    )
    p.add_argument(
        "--report",
        metavar="PATH",
        help="also write a JSON report (crop, reference, every frame's fate, health findings)",
    )
    p.set_defaults(func=run)


def _quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError("quality must be between 1 and 100")
    return q


_NAMED_REFERENCES: dict[str, Reference] = {"first": "first", "middle": "middle", "last": "last"}


def _reference(text: str, count: int) -> Reference:
    if text in _NAMED_REFERENCES:
        return _NAMED_REFERENCES[text]
    try:
        n = int(text)
    except ValueError:
        raise CliError(f"--reference {text!r}: use a frame number, first, middle or last") from None
    if not 0 <= n < count:
        raise CliError(f"--reference {n}: there are {count} frames, numbered 0 to {count - 1}")
    return n


def run(args: argparse.Namespace) -> int:
    limit_heap_fragmentation()
    try:
        left_out: list[Path] = []
        paths = list_inputs(args.inputs, left_out=left_out)
        for path in left_out:
            print(f"macrorig stack: left out {path.name}: macrorig wrote it", file=sys.stderr)
        if len(paths) < 2:
            raise CliError(f"need at least two frames to stack, got {len(paths)}")
        check_outputs(args.output, args.depthmap, args.report, inputs=paths)
        reference = _reference(str(args.reference), len(paths))
        options = StackOptions(
            method=args.method,
            align=not args.no_align,
            crop=not args.full_size,
            depth_map=args.depthmap is not None,
            near_first=not args.far_first,
            **({"workers": args.workers} if args.workers else {}),
        )
        result = stack_files(
            paths,
            reference=reference,
            options=options,
            progress=ProgressBar("stacking"),
        )
        for frame in result.skipped:
            print(
                f"macrorig stack: skipped {paths[frame.index].name}: {frame.reason}",
                file=sys.stderr,
            )
        write_result(
            result,
            args.output,
            quality=args.quality,
            depth_output=args.depthmap,
            exif_from=paths[result.reference],
        )
        content = report(result, paths)
        if args.report:
            write_report(content, args.report)
    except (StackError, ImageIOError) as exc:
        raise CliError(str(exc)) from None
    h, w = result.fused.shape[:2]
    used = len(result.frames) - len(result.skipped)
    print(f"wrote {Path(args.output)} ({w}×{h}) from {used} of {len(paths)} frames")
    health = content["health"]
    if isinstance(health, dict):
        print("\n".join(summary_lines(health)))
    return 0
