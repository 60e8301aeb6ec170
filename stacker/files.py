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
    check_output_folder,
    check_output_path,
    frame_size,
    read_exif,
    write_image,
    written_by_macrorig,
)
from stacker.memory import MAX_PIXELS_ENV, frame_pixel_limit
from stacker.result import StackResult
from stacker.stream import Reference, StackError, StackOptions, Stream

Progress = Callable[[int, int], None]


def list_inputs(
    inputs: Sequence[str | os.PathLike[str]], *, left_out: list[Path] | None = None
) -> list[Path]:
    """Files as given, or the image files of one folder sorted by name — without the
    files macrorig itself wrote there (results, depth maps: :func:`written_by_macrorig`;
    ``macrorig sim render``'s ``truth*.png``), which are added to ``left_out``."""
    paths = [Path(p) for p in inputs]
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        images = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file()
        )
        ours = [p for p in images if _not_a_frame(p)]
        found = [p for p in images if p not in ours]
        if left_out is not None:
            left_out.extend(ours)
        if not found:
            also = f" besides {len(ours)} that macrorig wrote" if ours else ""
            raise StackError(f"{folder}: no JPEG, PNG or TIFF files in this folder{also}")
        return found
    for p in paths:
        if p.is_dir():
            raise StackError(f"{p}: is a folder; give one folder or a list of files, not both")
        if not p.exists():
            raise StackError(f"{p}: no such file")
        if p.suffix.lower() not in INPUT_SUFFIXES:
            raise StackError(f"{p}: not a JPEG, PNG or TIFF file")
    return paths


def _not_a_frame(path: Path) -> bool:
    """A ground truth ``macrorig sim render`` wrote, or a result of ``write_image``."""
    is_truth = path.name.lower().startswith("truth") and path.suffix.lower() == ".png"
    return is_truth or written_by_macrorig(path)


def check_frame_sizes(
    paths: Sequence[str | os.PathLike[str]], max_pixels: int | None = None
) -> None:
    """Refuse, from the headers alone, a frame too large to stack with this computer's
    memory (:func:`~stacker.memory.frame_pixel_limit`) before any is decoded."""
    limit = frame_pixel_limit() if max_pixels is None else max_pixels
    for path in paths:
        width, height = frame_size(path)
        if width * height > limit:
            raise StackError(
                f"{path}: {width}×{height} is {width * height / 1e6:.0f} megapixels, more than "
                f"this computer can stack ({limit / 1e6:.0f} MP with its free memory; "
                f"set {MAX_PIXELS_ENV} to change the limit)"
            )


def stack_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    reference: Reference = "middle",
    options: StackOptions | None = None,
    progress: Progress | None = None,
    max_pixels: int | None = None,
) -> StackResult:
    """Stack image files (in the given order) through one stream."""
    if len(paths) < 2:
        raise StackError(f"need at least two frames to stack, got {len(paths)}")
    check_frame_sizes(paths, max_pixels)
    stream = Stream(count=len(paths), reference=reference, options=options, bgr=True)
    with stream:
        for i, _ in enumerate(stream.add_files(paths)):
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
    output: str | os.PathLike[str],
    depth_output: str | os.PathLike[str] | None,
    report_output: str | os.PathLike[str] | None = None,
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Refuse, before any work, an output that cannot be written or that would
    overwrite one of the ``inputs`` (frames are not to be lost)."""
    check_output_path(output)
    if depth_output is not None:
        if Path(depth_output).suffix.lower() != ".png":
            raise ImageIOError(
                f"{depth_output}: the depth map is written as an 8-bit PNG; use .png"
            )
        check_output_path(depth_output)
    if report_output is not None:
        check_output_folder(report_output)
    frames = {_identity(p) for p in inputs}
    for path in (output, depth_output, report_output):
        if path is not None and _identity(path) in frames:
            raise ImageIOError(f"{path}: is one of the input frames; choose another output name")


def _identity(path: str | os.PathLike[str]) -> object:
    """The same for two names of one file (links, ``./``), also for a file not there yet."""
    p = Path(path)
    try:
        st = p.stat()
        return (st.st_dev, st.st_ino)
    except OSError:
        return p.resolve()
