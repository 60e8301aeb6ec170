"""Opening the job database when it is damaged: start anyway, lose nothing.

A garbage header, a truncated file, a directory in its place or a corrupted page would
stop the daemon at every start (and systemd would restart it in a loop).  Instead the
damaged file is set aside — renamed beside itself, never deleted, with its ``-wal`` and
``-shm`` — a fresh database is made, and the job list is rebuilt from the job folders:
each holds ``job.json`` (what the job is, written when it was queued) and its
``manifest.jsonl`` (the frames it has), and its result files say whether it finished.
Frames are never touched.  Presets and schedules live only in the database: whatever of
them the damaged file still gives up (read-only, row by row — a corrupted page ends a
table where it is) is copied into the fresh one, schedules paused until someone checks
them; the message says how many and where the old file is.  If even a fresh
file cannot be made (a read-only or full disk), the rig runs on a database in memory and
says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.data_layout import DataLayout
from rig.errors import StoreDamaged
from rig.job_files import JobFiles
from rig.jobs.state import JobState
from rig.store import Store

log = logging.getLogger(__name__)

RESULT_OUTPUTS = ("result.jpg", "result.tif", "result.png", "depth.png", "report.json")
REBUILT_ERROR = "rebuilt from its folder after the job database was damaged"
RESTORED_SCHEDULE = (
    "paused: recovered from the damaged job database; check it and switch it back on"
)
PRESET_COLUMNS = ("name", "plan", "created", "updated")
SCHEDULE_COLUMNS = (
    "id", "preset", "every_min", "times", "until", "next_at", "runs", "skipped", "created",
    "last_job",
)  # fmt: skip


@dataclass(frozen=True)
class OpenedStore:
    store: Store
    problem: str | None = None  # what was wrong and what was done, for status and page


def open_store(layout: DataLayout) -> OpenedStore:
    """The job database, checked; a damaged one is set aside and rebuilt."""
    path = layout.database
    try:
        store = Store(path)
    except (sqlite3.DatabaseError, OSError, StoreDamaged) as exc:
        damage = _describe(exc)
    else:
        try:
            store.check()
            return OpenedStore(store)
        except StoreDamaged as exc:
            damage = _describe(exc)
            store.close()
    log.error("the job database %s is damaged: %s", path, damage)
    kept = set_aside(path)
    fresh = _fresh_store(path)
    rebuilt = rebuild_jobs(fresh, layout)
    presets, schedules = salvage_settings(kept or path, fresh)
    where = f"kept as {kept.name}" if kept else "left where it was (it could not be renamed)"
    problem = (
        f"the job database was damaged ({damage}); it was {where} and the job list "
        f"rebuilt from {rebuilt} job folder(s); {presets} preset(s) and {schedules} "
        "schedule(s) could be read from it (schedules paused: check them and switch them "
        "back on); any others were lost with it"
    )
    if fresh.path != path:
        problem += "; a new database could not be made, so changes are kept only until a restart"
    log.error("%s", problem)
    return OpenedStore(fresh, problem)


def _describe(exc: BaseException) -> str:
    """SQLite's or the system's own words (not the advice to restart: this is the restart)."""
    if isinstance(exc, StoreDamaged) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def set_aside(path: Path) -> Path | None:
    """Rename the database (and its -wal/-shm) to ``<name>.damaged-<time>``; the new
    name of the database, or None if it could not be renamed."""
    if not path.exists() and not path.is_symlink():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    try:
        path.rename(target)
    except OSError as exc:
        log.error("could not set %s aside: %s", path, exc)
        return None
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(OSError):
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
    return target


def _fresh_store(path: Path) -> Store:
    try:
        return Store(path)
    except (sqlite3.Error, OSError) as exc:
        log.error("cannot make a new job database at %s (%s): using one in memory", path, exc)
        return Store(Path(":memory:"))


def rebuild_jobs(store: Store, layout: DataLayout) -> int:
    """A record for every job folder that says what it holds; the number rebuilt."""
    if not layout.jobs.is_dir():
        return 0
    count = 0
    for folder in sorted(layout.jobs.iterdir()):
        if not folder.is_dir():
            continue
        record = job_record(JobFiles(layout.root, folder.name))
        if record is None:
            log.warning("job folder %s says too little to list it; left as it is", folder)
            continue
        store.restore_job(record)
        count += 1
    return count


def salvage_settings(old: Path, store: Store) -> tuple[int, int]:
    """Copy the presets and schedules the damaged file still gives up into ``store``;
    (presets, schedules) copied.  Schedules come back paused: their counts and next
    slot may be stale, and a run nobody expects must not start the rail at night."""
    presets = 0
    for row in _readable_rows(old, "presets", PRESET_COLUMNS):
        try:
            json.loads(row["plan"])
        except (TypeError, ValueError):
            continue
        store.restore_preset(row)
        presets += 1
    schedules = 0
    for row in _readable_rows(old, "schedules", SCHEDULE_COLUMNS):
        store.restore_schedule({**row, "enabled": 0, "error": RESTORED_SCHEDULE})
        schedules += 1
    return presets, schedules


def _readable_rows(path: Path, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of ``table`` read before the file stopped answering (none if it cannot
    be opened at all: a garbage header, a directory)."""
    if not path.is_file():
        return []
    rows: list[dict[str, Any]] = []
    query = f"SELECT {', '.join(columns)} FROM {table}"
    # Read-only with its -wal if SQLite can; immutable (no -wal, no locks) if not.
    for options in ("mode=ro", "mode=ro&immutable=1"):
        rows = []
        try:
            with contextlib.closing(
                sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=2)
            ) as db:
                for row in db.execute(query):
                    rows.append(dict(zip(columns, row, strict=True)))
            return rows
        except sqlite3.Error as exc:
            log.warning("reading %s from %s (%s): %s", table, path.name, options, exc)
            if rows:  # a damaged page part-way: keep what came before it
                return rows
    return rows


def job_record(files: JobFiles) -> dict[str, Any] | None:
    """What a job's folder says about it, as a store record; None if it says too little
    (no ``job.json`` and fewer than two frames)."""
    card = files.read_card()
    entries = files.entries()
    if card is None:
        if len(entries) < 2:
            return None
        positions = [e.position for e in entries]
        card = {
            "kind": "stack",
            "name": files.dir.name,
            "plan": {"start_mm": positions[0], "end_mm": positions[-1], "count": len(entries)},
            "created": min((e.saved for e in entries if e.saved), default=time.time()),
            "frames_planned": len(entries),
        }
    outputs = [name for name in RESULT_OUTPUTS if files.path(name).is_file()]
    finished = any(name.startswith("result.") for name in outputs)
    return {
        "id": files.dir.name,
        "kind": card.get("kind", "stack"),
        "name": str(card.get("name") or files.dir.name),
        "state": str(JobState.DONE if finished else JobState.INTERRUPTED),
        "plan": json.dumps(card.get("plan") or {}),
        "created": float(card.get("created") or time.time()),
        "frames_planned": int(card.get("frames_planned") or len(entries)),
        "frames_done": len(entries) if card.get("kind", "stack") == "stack" else 0,
        "error": None if finished else REBUILT_ERROR,
        "outputs": json.dumps(outputs if finished else []),
        "callback_url": card.get("callback_url"),
        "schedule_id": card.get("schedule_id"),
        "source_job": card.get("source_job"),
    }
