"""A job's files: frames written atomically, an append-only manifest, results.

Inside a job's folder (``jobs/<id>/`` in the data folder, see :mod:`rig.data_layout`)::

    frames/frame_0000.jpg …   every frame, written tmp → fsync → rename
    manifest.jsonl            one JSON line per saved frame, fsync'd
    job.json                  what the job is (kind, name, plan…), written when queued,
                              so a damaged database can be rebuilt from the folders
    result.jpg|tif|png, depth.png, preview.jpg, report.json
    restack.json              left by ``macrorig restack`` (rig.cluster) once it is done

A frame is in the manifest only once its file is complete and renamed; a crash between
the two leaves an orphan file that :meth:`JobFiles.reconcile` removes (the frame is
then captured again on resume), so "in the manifest" always means "complete on disk".
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rig.data_layout import DataLayout
from rig.durable import DiskFull, write_atomic

JPEG_QUALITY = 95
PREVIEW_FILE = "preview.jpg"  # the fused image so far, rewritten as it grows
CARD_FILE = "job.json"
# The files of a job's folder that clients may fetch.
RESULT_FILES = ("result.jpg", "result.tif", "result.png", "depth.png", PREVIEW_FILE, "report.json")
MANIFEST_FILE = "manifest.jsonl"
# Written last by `macrorig restack` (rig.cluster): what was stacked, how and where; a
# later run with the same method and frames skips the folder.
RESTACK_FILE = "restack.json"


@dataclass(frozen=True)
class FrameEntry:
    index: int
    file: str  # relative to the job's folder
    position: float  # rail mm, or lens dioptres
    exposure_us: int | None = None
    analogue_gain: float | None = None
    sensor_timestamp_ns: int | None = None
    saved: float | None = None


def parse_manifest(text: str) -> list[FrameEntry]:
    """A manifest's frames in index order (a torn last line is ignored; a frame recorded
    twice, by a resumed job, counts once)."""
    by_index: dict[int, FrameEntry] = {}
    for line in text.splitlines():
        try:
            entry = FrameEntry(**json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue
        by_index[entry.index] = entry
    return [by_index[i] for i in sorted(by_index)]


def parse_card(data: bytes) -> dict[str, Any] | None:
    """A ``job.json``'s contents, or None if they are not a JSON object."""
    try:
        card = json.loads(data.decode("utf-8"))
    except ValueError:  # not UTF-8 (UnicodeDecodeError is one) or not JSON
        return None
    return card if isinstance(card, dict) else None


def encode(image: np.ndarray, fmt: str) -> bytes:
    """RGB uint8/uint16 → file bytes (OpenCV writes BGR)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == "jpg" else []
    ok, buf = cv2.imencode(f".{fmt}" if fmt != "tif" else ".tiff", bgr, params)
    if not ok:
        raise ValueError(f"could not encode a {fmt} frame")
    return buf.tobytes()


class JobFiles:
    def __init__(self, data_dir: Path, job_id: str) -> None:
        self.dir = DataLayout(data_dir).job(job_id)
        self.frames_dir = self.dir / "frames"
        self.manifest = self.dir / MANIFEST_FILE

    def create(self) -> None:
        self.frames_dir.mkdir(parents=True, exist_ok=True)

    def frame_name(self, index: int, fmt: str) -> str:
        return f"frames/frame_{index:04d}.{fmt}"

    def save_frame(self, entry: FrameEntry, image: np.ndarray, fmt: str) -> FrameEntry:
        """Write the frame, then record it in the manifest (both durable on return)."""
        self.create()
        write_atomic(self.dir / entry.file, encode(image, fmt))
        line = json.dumps(asdict(entry), separators=(",", ":")) + "\n"
        try:
            with open(self.manifest, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                (self.dir / entry.file).unlink(missing_ok=True)  # not recorded: not kept
                raise DiskFull(errno.ENOSPC, f"the disk holding {self.dir} is full") from exc
            raise
        return entry

    def entries(self) -> list[FrameEntry]:
        """The manifest's frames in index order (a torn last line is ignored)."""
        if not self.manifest.exists():
            return []
        return parse_manifest(self.manifest.read_text(encoding="utf-8"))

    def frame_paths(self) -> list[Path]:
        return [self.dir / e.file for e in self.entries()]

    def reconcile(self) -> list[FrameEntry]:
        """After a crash: drop temporary files, frames not in the manifest, and manifest
        lines whose file is gone; rewrite the manifest cleanly.  Returns what is kept."""
        if not self.dir.exists():
            return []
        for tmp in self.dir.rglob(".*.part"):
            tmp.unlink(missing_ok=True)
        kept = [e for e in self.entries() if (self.dir / e.file).is_file()]
        known = {e.file for e in kept}
        if self.frames_dir.exists():
            for path in self.frames_dir.iterdir():
                if f"frames/{path.name}" not in known:
                    path.unlink(missing_ok=True)
        data = "".join(json.dumps(asdict(e), separators=(",", ":")) + "\n" for e in kept)
        write_atomic(self.manifest, data.encode())
        return kept

    def path(self, name: str) -> Path:
        return self.dir / name

    def write_card(self, card: dict[str, Any]) -> None:
        """What the job is (see :mod:`rig.store_recovery`)."""
        self.write_json(CARD_FILE, card)

    def read_card(self) -> dict[str, Any] | None:
        try:
            return parse_card(self.path(CARD_FILE).read_bytes())
        except OSError:
            return None

    def write_json(self, name: str, data: Any) -> None:
        write_atomic(self.dir / name, (json.dumps(data, indent=1) + "\n").encode())

    def delete(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
