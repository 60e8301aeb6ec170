"""Stacking files: gather inputs, run them through a :class:`~stacker.stream.Stream`,
write the outputs.  What the CLI and the rig's re-stack action use."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from stacker.health import PlanInfo, check, health_json
from stacker.io import (
    INPUT_SUFFIXES,
    ImageIOError,
    atomic_output,
    check_output_path,
    read_exif,
    write_image,
)
from stacker.result import StackResult
from stacker.stream import Reference, StackError, StackOptions, Stream

Progress = Callable[[int, int], None]


def list_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, or the image files of one folder sorted by name."""
    paths = [Path(p) for p in inputs]
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        found = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file()
        )
        if not found:
            raise StackError(f"{folder}: no JPEG, PNG or TIFF files in this folder")
        return found
    for p in paths:
        if p.is_dir():
            raise StackError(f"{p}: is a folder; give one folder or a list of files, not both")
        if not p.exists():
            raise StackError(f"{p}: no such file")
        if p.suffix.lower() not in INPUT_SUFFIXES:
            raise StackError(f"{p}: not a JPEG, PNG or TIFF file")
    return paths


def stack_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    reference: Reference = "middle",
    options: StackOptions | None = None,
    progress: Progress | None = None,
) -> StackResult:
    """Stack image files (in the given order) through one stream."""
    if len(paths) < 2:
        raise StackError(f"need at least two frames to stack, got {len(paths)}")
    stream = Stream(count=len(paths), reference=reference, options=options, bgr=True)
    with stream:
        for i, path in enumerate(paths):
            stream.add_file(path)
            if progress:
                progress(i + 1, len(paths))
        return stream.finish()


def write_result(
    result: StackResult,
    output: str | os.PathLike[str],
    *,
    quality: int = 95,
    depth_output: str | os.PathLike[str] | None = None,
    exif_from: str | os.PathLike[str] | None = None,
) -> None:
    """Write the fused image (and depth map) atomically, with the reference frame's EXIF."""
    exif = read_exif(exif_from) if exif_from is not None else None
    write_image(output, result.fused, quality=quality, exif=exif)
    if depth_output is not None and result.depth is not None:
        write_image(depth_output, result.depth)


def report(
    result: StackResult,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    plan: PlanInfo | None = None,
) -> dict[str, object]:
    """A JSON-able account of a stack: output crop, reference, every frame's fate, and the
    health check's findings (measured against ``plan`` when given)."""
    c = result.crop
    health = None if result.health is None else health_json(check(result.health, plan))
    return {
        "crop": {"x": c.x0, "y": c.y0, "width": c.width, "height": c.height},
        "reference": result.reference,
        "frames": [
            {
                "index": f.index,
                "file": str(paths[f.index]) if paths is not None else f.name,
                "status": f.status,
                "reason": f.reason,
                "gain": round(f.gain, 5),
                "correlation": None if f.correlation is None else round(f.correlation, 4),
                "warp": None
                if f.warp is None
                else [[round(v, 6) for v in row] for row in f.warp[:2]],
            }
            for f in result.frames
        ],
        "health": health,
    }


def write_report(content: dict[str, object], output: str | os.PathLike[str]) -> None:
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(content, indent=1) + "\n")


def check_outputs(
    output: str | os.PathLike[str], depth_output: str | os.PathLike[str] | None
) -> None:
    check_output_path(output)
    if depth_output is not None:
        if Path(depth_output).suffix.lower() != ".png":
            raise ImageIOError(
                f"{depth_output}: the depth map is written as an 8-bit PNG; use .png"
            )
        check_output_path(depth_output)
