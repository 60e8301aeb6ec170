"""An archive of stacks → one :class:`~rig.cluster.task.StackTask` per stack.

An ARCHIVE is a path or fsspec URL of a folder.  Under it (itself included):

- a **job folder** (``<data>/jobs/<id>/``, see :mod:`rig.job_files`) is a folder with a
  ``manifest.jsonl``: its frames are the manifest's, in index order; the plan's method,
  outputs and depth map come from the folder's ``job.json`` (it travels with the folder),
  else from the rig's database beside ``jobs/`` (folders older than job.json), else
  the defaults;
- a **plain folder of frames** is a folder with two or more JPEG/PNG/TIFF files, taken
  in name order; files named like results (``result.jpg``, ``depth.png``…) are results.

Results go beside the frames: into the job folder, or into the plain folder.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from rig.cluster.resources import frame_pixels
from rig.cluster.task import StackTask
from rig.data_layout import DataLayout
from rig.job_files import (
    CARD_FILE,
    MANIFEST_FILE,
    RESTACK_FILE,
    RESULT_FILES,
    parse_card,
    parse_manifest,
)
from stacker import DEFAULT_METHOD
from stacker.io import INPUT_SUFFIXES


class ArchiveError(Exception):
    """An ARCHIVE argument cannot be read (bad input: the message says which and why)."""


@dataclass(frozen=True)
class Found:
    """A stack found in an archive, ready to run unless ``problem`` or ``done``."""

    task: StackTask
    problem: str | None = None  # why it cannot be stacked
    done: dict[str, Any] | None = None  # the restack.json of an earlier run that matches


def find_stacks(
    archives: Sequence[str], *, method: str | None = None, threads: int | None = None
) -> list[Found]:
    """Every stack under the archives, in path order; ``method`` overrides the plans'."""
    from fsspec.core import url_to_fs

    found: list[Found] = []
    for archive in archives:
        try:
            fs, root = url_to_fs(archive)
            if not fs.isdir(root):
                raise ArchiveError(f"{archive}: no such folder")
            folders = sorted(_stack_folders(fs, root))
        except ArchiveError:
            raise
        except (OSError, ValueError, ImportError) as exc:
            raise ArchiveError(f"{archive}: cannot be read ({exc})") from exc
        for folder, files in folders:
            found.append(_stack(fs, folder, files, method, threads))
    return found


def _stack_folders(fs: Any, root: str) -> Iterator[tuple[str, list[str]]]:
    """(folder, its file names) for every job folder and plain frame folder."""
    jobs: list[str] = []
    for folder, dirs, files in fs.walk(root, topdown=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(folder == j or folder.startswith(j.rstrip("/") + "/") for j in jobs):
            continue  # a job folder's frames/ is not a stack of its own
        if MANIFEST_FILE in files:
            jobs.append(folder)
            yield folder, list(files)
        elif len(_frame_names(files)) >= 2:
            yield folder, list(files)


def _frame_names(files: Sequence[str]) -> list[str]:
    return sorted(
        name
        for name in files
        if PurePosixPath(name).suffix.lower() in INPUT_SUFFIXES
        and not name.startswith(".")
        and name not in RESULT_FILES
    )


def _stack(
    fs: Any, folder: str, files: list[str], method: str | None, threads: int | None
) -> Found:
    name = PurePosixPath(folder).name
    if MANIFEST_FILE in files:
        frames, plan = _job_frames(fs, folder)
    else:
        frames, plan = [f"{folder}/{n}" for n in _frame_names(files)], {}
    task = StackTask(
        name=name,
        frames=tuple(_url(fs, f) for f in frames),
        out_dir=_url(fs, folder),
        method=method or str(plan.get("method") or DEFAULT_METHOD),
        outputs=tuple(plan.get("outputs") or ("jpg",)),
        depth_map=bool(plan.get("depth_map", False)),
        threads=threads,
    )
    if len(frames) < 2:
        return Found(task, problem=f"{len(frames)} frame(s): need at least two to stack")
    try:
        task = replace(task, pixels=_pixels(fs, frames[0]))
    except (OSError, ValueError) as exc:
        return Found(task, problem=f"{frames[0]}: cannot be read ({exc})")
    return Found(task, done=_earlier_run(fs, folder, task, files))


def _job_frames(fs: Any, folder: str) -> tuple[list[str], dict[str, Any]]:
    """A job folder's frames (those of its manifest that are on disk) and plan."""
    entries = parse_manifest(fs.cat_file(f"{folder}/{MANIFEST_FILE}").decode("utf-8"))
    present = set()
    with contextlib.suppress(FileNotFoundError):
        present = {PurePosixPath(p).name for p in fs.ls(f"{folder}/frames", detail=False)}
    frames = [f"{folder}/{e.file}" for e in entries if PurePosixPath(e.file).name in present]
    plan = _card_plan(fs, folder)
    return frames, plan if plan is not None else _database_plan(fs, folder)


def _card_plan(fs: Any, folder: str) -> dict[str, Any] | None:
    """The plan in the folder's job.json, or None when it has no readable one."""
    try:
        card = parse_card(fs.cat_file(f"{folder}/{CARD_FILE}"))
    except OSError:  # missing or unreadable
        return None
    plan = card.get("plan") if card is not None else None
    return plan if isinstance(plan, dict) else None


def _database_plan(fs: Any, folder: str) -> dict[str, Any]:
    """The job's plan from the rig's database, when the folder is ``<data>/jobs/<id>``
    on this computer; empty otherwise (the defaults apply)."""
    from fsspec.implementations.local import LocalFileSystem

    if not isinstance(fs, LocalFileSystem):
        return {}
    job_dir = Path(folder)
    database = DataLayout(job_dir.parent.parent).database
    if job_dir.parent.name != "jobs" or not database.is_file():
        return {}
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        ) as db:
            row = db.execute("SELECT plan FROM jobs WHERE id = ?", (job_dir.name,)).fetchone()
    except sqlite3.Error:
        return {}
    if row is None:
        return {}
    try:
        plan = json.loads(row[0])
    except (TypeError, json.JSONDecodeError):
        return {}
    return plan if isinstance(plan, dict) else {}


def _pixels(fs: Any, frame: str) -> int:
    with fs.open(frame, "rb") as f:
        return frame_pixels(f)


def _earlier_run(fs: Any, folder: str, task: StackTask, files: list[str]) -> dict[str, Any] | None:
    """The marker of an earlier run with the same method and frames whose results are
    all still there; None if the stack must run."""
    if RESTACK_FILE not in files:
        return None
    try:
        record = json.loads(fs.cat_file(f"{folder}/{RESTACK_FILE}"))
    except (OSError, ValueError):
        return None
    frame_files = [PurePosixPath(f).name for f in task.frames]
    if (
        not isinstance(record, dict)
        or record.get("method") != task.method
        or record.get("frame_files") != frame_files
    ):
        return None
    if not all(name in files for name in task.result_names()):
        return None
    return record


def _url(fs: Any, path: str) -> str:
    """A path for a local file, a URL with its protocol otherwise (what a worker opens)."""
    from fsspec.implementations.local import LocalFileSystem

    return path if isinstance(fs, LocalFileSystem) else str(fs.unstrip_protocol(path))
