"""The job database: SQLite in WAL mode for jobs, presets and schedules.

One connection shared by the daemon's threads behind a lock (writes are rare and tiny:
a state change, a frame count).  Frame and result files live beside it, see
:mod:`rig.job_files`.  At start-up, jobs found ``running`` or ``stacking`` belong to a
daemon that died: they become ``interrupted`` (resumable, or stackable from the frames
they have).
"""

from __future__ import annotations

import contextlib
import errno
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rig.durable import DiskFull
from rig.errors import Conflict, NotFound
from rig.jobs.state import JobState

JobKind = Literal["stack", "restack"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    plan TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    frames_planned INTEGER NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    outputs TEXT NOT NULL DEFAULT '[]',
    idempotency_key TEXT UNIQUE,
    callback_url TEXT,
    schedule_id TEXT,
    source_job TEXT,
    health TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
CREATE TABLE IF NOT EXISTS presets (
    name TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    preset TEXT NOT NULL,
    every_min REAL NOT NULL,
    times INTEGER,
    until REAL,
    next_at REAL NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    enabled INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    last_job TEXT
);
"""


# Added after the first release: (name, type) for ALTER TABLE on older databases.
_ADDED_JOB_COLUMNS = (("health", "TEXT"),)


class JobRecord(BaseModel):
    """What a job is: the fields it is stored with and shown with (its public part)."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: JobKind
    name: str
    state: JobState
    created: float
    started: float | None
    finished: float | None
    frames_planned: int
    frames_done: int
    error: str | None
    outputs: list[str] = Field(default_factory=list)
    health: dict[str, Any] | None = None  # the health check's verdict: status, problems
    source_job: str | None = None
    schedule_id: str | None = None
    plan: dict[str, Any]


class Job(JobRecord):
    """A job as stored, with what only the rig sees."""

    idempotency_key: str | None = None
    callback_url: str | None = None

    @property
    def active(self) -> bool:
        return self.state.active


@dataclass(frozen=True)
class Preset:
    name: str
    plan: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True)
class Schedule:
    id: str
    preset: str
    every_min: float
    times: int | None  # stop after this many runs
    until: float | None  # or at this time (epoch seconds)
    next_at: float
    runs: int
    skipped: int
    enabled: bool
    created: float
    last_job: str | None

    @property
    def finished(self) -> bool:
        return (self.times is not None and self.runs >= self.times) or (
            self.until is not None and self.next_at > self.until
        )


# What update_job may change; the state changes only through set_state.
_JOB_FIELDS = frozenset(
    {"started", "finished", "frames_planned", "frames_done", "error", "outputs", "name", "health"}
)


def new_job_id(now: float | None = None) -> str:
    """Sortable and readable in folder listings: 20261127-021530-3fa9."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now or time.time()))
    return f"{stamp}-{secrets.token_hex(2)}"


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a job's state must survive power loss
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        """Columns added since a database was created (SQLite adds them in place)."""
        have = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_JOB_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc):
                    raise
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise DiskFull(errno.ENOSPC, f"the disk holding {self.path} is full") from exc

    # -- jobs ------------------------------------------------------------------------
    def create_job(
        self,
        *,
        kind: JobKind,
        name: str,
        plan: dict[str, Any],
        frames_planned: int,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        schedule_id: str | None = None,
        source_job: str | None = None,
        job_id: str | None = None,
    ) -> tuple[Job, bool]:
        """Insert a queued job; with an idempotency key already used, return that job
        instead.  Returns (job, created)."""
        with self._tx() as db:
            if idempotency_key is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE idempotency_key = ?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    return _job(row), False
            jid = job_id or new_job_id()
            db.execute(
                "INSERT INTO jobs (id, kind, name, state, plan, created, frames_planned, "
                "idempotency_key, callback_url, schedule_id, source_job) "
                "VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (
                    jid,
                    kind,
                    name,
                    json.dumps(plan),
                    time.time(),
                    frames_planned,
                    idempotency_key,
                    callback_url,
                    schedule_id,
                    source_job,
                ),
            )
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (jid,)).fetchone()
        return _job(row), True

    def job(self, job_id: str) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _job(row)

    def job_by_idempotency_key(self, key: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return None if row is None else _job(row)

    def jobs(self, *, limit: int = 100, states: tuple[str, ...] | None = None) -> list[Job]:
        query, args = "SELECT * FROM jobs", []  # type: tuple[str, list[object]]
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            args.extend(states)
        query += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [_job(r) for r in rows]

    def queued(self) -> list[Job]:
        """Jobs waiting to run, oldest first (FIFO)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE state = ? ORDER BY created, id", (JobState.QUEUED,)
            ).fetchall()
        return [_job(r) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> Job:
        """Change a job's bookkeeping (its state changes only through :meth:`set_state`)."""
        with self._tx() as db:
            return self._write_job(db, job_id, fields)

    def set_state(
        self,
        job_id: str,
        state: JobState | str,
        *,
        expect: tuple[JobState | str, ...] | None = None,
        **fields: Any,
    ) -> Job:
        """Change a job's state — only along :data:`~rig.jobs.state.TRANSITIONS`, and only
        from the ``expect`` states if given — with other fields.  The check and the write
        are one transaction, so of two changes racing from the same state one is refused
        (:class:`Conflict`)."""
        new = JobState(state)
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r}")
            current = JobState(row["state"])
            if (expect is not None and current not in expect) or not current.may_become(new):
                raise Conflict(f"job {job_id} is {current}")
            return self._write_job(db, job_id, fields, new)

    @staticmethod
    def _write_job(
        db: sqlite3.Connection, job_id: str, fields: dict[str, Any], state: JobState | None = None
    ) -> Job:
        unknown = set(fields) - _JOB_FIELDS
        if unknown:
            raise TypeError(f"cannot update {sorted(unknown)}")
        values = {**fields, **({"state": str(state)} if state is not None else {})}
        if "outputs" in values:
            values["outputs"] = json.dumps(values["outputs"])
        if values.get("health") is not None:
            values["health"] = json.dumps(values["health"])
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values.values(), job_id))
        if cur.rowcount == 0:
            raise NotFound(f"no job {job_id!r}")
        return _job(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def delete_job(self, job_id: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r}")
            if JobState(row["state"]).active:
                raise Conflict(f"job {job_id} is {row['state']}: cancel it first")
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def interrupt_leftovers(self) -> list[Job]:
        """At start-up: jobs a dead daemon left running or stacking become interrupted."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM jobs WHERE state IN (?, ?)", (JobState.RUNNING, JobState.STACKING)
            ).fetchall()
            for r in rows:
                db.execute(
                    "UPDATE jobs SET state = ?, error = ? WHERE id = ?",
                    (JobState.INTERRUPTED, "the daemon stopped while this job ran", r["id"]),
                )
        return [self.job(r["id"]) for r in rows]

    # -- presets ---------------------------------------------------------------------
    def save_preset(self, name: str, plan: dict[str, Any]) -> Preset:
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO presets (name, plan, created, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET plan = excluded.plan, updated = excluded.updated",
                (name, json.dumps(plan), now, now),
            )
        return self.preset(name)

    def preset(self, name: str) -> Preset:
        with self._lock:
            row = self._db.execute("SELECT * FROM presets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no preset {name!r}")
        return Preset(row["name"], json.loads(row["plan"]), row["created"], row["updated"])

    def presets(self) -> list[Preset]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM presets ORDER BY name").fetchall()
        return [Preset(r["name"], json.loads(r["plan"]), r["created"], r["updated"]) for r in rows]

    def delete_preset(self, name: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM presets WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"no preset {name!r}")

    # -- schedules -------------------------------------------------------------------
    def create_schedule(
        self,
        *,
        preset: str,
        every_min: float,
        times: int | None,
        until: float | None,
        start_at: float,
    ) -> Schedule:
        sid = secrets.token_hex(4)
        with self._tx() as db:
            db.execute(
                "INSERT INTO schedules (id, preset, every_min, times, until, next_at, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sid, preset, every_min, times, until, start_at, time.time()),
            )
        return self.schedule(sid)

    def schedule(self, schedule_id: str) -> Schedule:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM schedules WHERE id = ?", (schedule_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no schedule {schedule_id!r}")
        return _schedule(row)

    def schedules(self) -> list[Schedule]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM schedules ORDER BY created").fetchall()
        return [_schedule(r) for r in rows]

    def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        allowed = {"next_at", "runs", "skipped", "enabled", "last_job"}
        if set(fields) - allowed:
            raise TypeError(f"cannot update {sorted(set(fields) - allowed)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE schedules SET {sets} WHERE id = ?", (*fields.values(), schedule_id)
            )
            if cur.rowcount == 0:
                raise NotFound(f"no schedule {schedule_id!r}")
        return self.schedule(schedule_id)

    def delete_schedule(self, schedule_id: str) -> None:
        with self._tx() as db:
            if db.execute("DELETE FROM schedules WHERE id = ?", (schedule_id,)).rowcount == 0:
                raise NotFound(f"no schedule {schedule_id!r}")


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        state=JobState(row["state"]),
        plan=json.loads(row["plan"]),
        created=row["created"],
        started=row["started"],
        finished=row["finished"],
        frames_planned=row["frames_planned"],
        frames_done=row["frames_done"],
        error=row["error"],
        outputs=json.loads(row["outputs"]),
        health=json.loads(row["health"]) if row["health"] else None,
        idempotency_key=row["idempotency_key"],
        callback_url=row["callback_url"],
        schedule_id=row["schedule_id"],
        source_job=row["source_job"],
    )


def _schedule(row: sqlite3.Row) -> Schedule:
    return Schedule(
        id=row["id"],
        preset=row["preset"],
        every_min=row["every_min"],
        times=row["times"],
        until=row["until"],
        next_at=row["next_at"],
        runs=row["runs"],
        skipped=row["skipped"],
        enabled=bool(row["enabled"]),
        created=row["created"],
        last_job=row["last_job"],
    )
