"""``macrorig sim``: the virtual optical bench.

``macrorig sim render OUTDIR`` renders a focus stack with a known answer: the frames, the
all-in-focus ground truth and depth map in the middle frame's geometry, and a
``stack.json`` describing every frame (focus position, scene→frame transform, gain).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from rig.cli.errors import CliError
from rig.sim.render import SCENE_KINDS, Stack, render_stack
from rig.sim.render.faults import FaultError, Faults
from rig.sim.render.faults import parse as parse_faults

FORMATS = ("jpg", "png", "tif")
JPEG_QUALITY = 95
# truth_depth.png stores depth in micrometres (16-bit), so up to 65.535 mm.
DEPTH_PNG_UNITS_PER_MM = 1000
MIN_SIDE_PX = 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("sim", help="virtual optical bench tools")
    actions = sim.add_subparsers(dest="sim_command", metavar="ACTION")
    render = actions.add_parser(
        "render",
        help="render a focus stack with ground truth",
        description="Render a simulated focus stack plus its all-in-focus ground truth.",
    )
    render.add_argument("outdir", type=Path, help="output directory (created if missing)")
    render.add_argument("--scene", choices=SCENE_KINDS, default="bench", help="scene kind")
    render.add_argument("--count", type=int, default=15, help="number of frames (≥ 2)")
    render.add_argument("--size", default="1014x760", help="frame size WIDTHxHEIGHT")
    render.add_argument("--seed", type=int, default=0, help="random seed (scene and frames)")
    render.add_argument("--format", choices=FORMATS, default="jpg", help="frame file format")
    render.add_argument("--no-noise", action="store_true", help="no sensor noise")
    render.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="FAULT",
        help="put a fault in the stack for the health check to find: move@K (the subject "
        "moves at frame K), part@K (a part of it moves), flicker@K, drift=X (light "
        "changes by X over the stack), step@K "
        "(the step before frame K is 4× too large), shake@K (vibration blur), short=X (the "
        "stack ends X of the subject depth early), swap@K (frames K, K+1 out of order); "
        "NAME@K=SIZE sets the size; repeat for several",
    )
    render.set_defaults(func=run_render)
    sim.set_defaults(func=_needs_action(sim))


def run_render(args: argparse.Namespace) -> int:
    size = parse_size(args.size)
    if args.count < 2:
        raise CliError(f"--count must be at least 2, got {args.count}")
    try:
        faults = parse_faults(args.fault)
        faults.check(args.count)
    except FaultError as exc:
        raise CliError(str(exc)) from None
    outdir = _writable_directory(args.outdir)
    stack = render_stack(
        args.scene, args.count, size=size, seed=args.seed, noise=not args.no_noise, faults=faults
    )
    names = [f"frame_{index:03d}.{args.format}" for index in range(len(stack.frames))]
    for name, frame in zip(names, stack.frames, strict=True):
        _write_rgb(outdir / name, frame.image)
    _write_rgb(outdir / "truth.png", stack.truth())
    depth_units = np.rint(stack.truth_depth() * DEPTH_PNG_UNITS_PER_MM)
    _write_image(outdir / "truth_depth.png", np.clip(depth_units, 0, 65535).astype(np.uint16))
    description = describe(stack, names, kind=args.scene, noise=not args.no_noise)
    description["faults"] = {k: v for k, v in asdict(faults).items() if v != getattr(Faults(), k)}
    (outdir / "stack.json").write_text(json.dumps(description, indent=2) + "\n")
    print(f"wrote {len(names)} frames, truth.png, truth_depth.png and stack.json to {outdir}")
    return 0


def parse_size(text: str) -> tuple[int, int]:
    """``"1014x760"`` → ``(1014, 760)``; anything else is a :class:`CliError`."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise CliError(f"--size must look like WIDTHxHEIGHT (e.g. 1014x760), got {text!r}")
    width, height = int(match[1]), int(match[2])
    if width < MIN_SIDE_PX or height < MIN_SIDE_PX:
        raise CliError(f"--size must be at least {MIN_SIDE_PX}x{MIN_SIDE_PX}, got {width}x{height}")
    return width, height


def describe(stack: Stack, names: list[str], *, kind: str, noise: bool) -> dict[str, Any]:
    """The contents of ``stack.json``."""
    return {
        "scene": kind,
        "seed": stack.seed,
        "size": list(stack.size),
        "scene_size": list(stack.scene.size),
        "noise": noise,
        "depth_range_mm": list(stack.scene.depth_range),
        "background_mm": stack.scene.background_mm,
        "reference_index": stack.reference_index,
        "truth": "truth.png",
        "truth_depth": "truth_depth.png",
        "truth_depth_units_per_mm": DEPTH_PNG_UNITS_PER_MM,
        "transform_convention": "2x3 affine, scene pixels -> frame pixels (OpenCV centres)",
        "optics": asdict(stack.optics),
        "frames": [
            {
                "file": name,
                "focus_mm": frame.focus_mm,
                "transform": frame.transform.tolist(),
                "gain": frame.gain,
            }
            for name, frame in zip(names, stack.frames, strict=True)
        ],
    }


def _writable_directory(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".macrorig-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"cannot write to {path}: {exc.strerror or exc}") from exc
    return path


def _write_rgb(path: Path, rgb: NDArray[np.uint8]) -> None:
    _write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))  # OpenCV files are BGR


def _write_image(path: Path, image: NDArray[Any]) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    if not cv2.imwrite(str(path), image, params):
        raise CliError(f"could not write {path}")


def _needs_action(parser: argparse.ArgumentParser) -> Any:
    def fail(args: argparse.Namespace) -> int:
        raise CliError(f"choose an action: {parser.format_usage().strip()}")

    return fail
