"""The job database: SQLite in WAL mode for jobs, presets, schedules and logged-out
sessions.

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
from rig.errors import Conflict, NotFound, StoreDamaged
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
    last_job TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    created REAL NOT NULL,
    delivered REAL,
    given_up REAL,
    last_status INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS callbacks_pending ON callbacks (next_at)
    WHERE delivered IS NULL AND given_up IS NULL;
CREATE TABLE IF NOT EXISTS ended_sessions (
    id TEXT PRIMARY KEY,
    expires REAL NOT NULL
);
"""

# Columns added after a table's first release: (table, column, declaration), added to an
# older database when it is opened.
# Added after the first release: (table, column, type) for ALTER TABLE on older databases.
_ADDED_COLUMNS = (("schedules", "error", "TEXT"), ("jobs", "health", "TEXT"))


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
class PendingCallback:
    """A job's callback still to be delivered (see :mod:`rig.jobs.callbacks`)."""

    id: int
    job_id: str
    url: str
    payload: dict[str, Any]
    attempts: int
    next_at: float


@dataclass(frozen=True)
class ScheduleSlot:
    """A schedule's slot taken by the job created with it: the schedule's ``next_at``
    must still be ``expect_next_at`` (so one slot starts one job), and becomes
    ``next_at``; its run is counted in the job's transaction."""

    schedule_id: str
    expect_next_at: float
    next_at: float
    skipped: int
    finished: bool


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
    error: str | None = None  # why the rig paused it (it stays paused until enabled again)

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
        try:
            with self._lock:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")  # a job's state survives power loss
                self._db.execute("PRAGMA busy_timeout=5000")
                self._db.executescript(_SCHEMA)
                self._add_missing_columns()
        except BaseException:
            self._db.close()
            raise

    def _add_missing_columns(self) -> None:
        for table, column, declaration in _ADDED_COLUMNS:
            have = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def check(self) -> None:
        """Read every page (SQLite's quick_check); :class:`StoreDamaged` if one is bad."""
        with self._reading() as db:
            rows = [r[0] for r in db.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise StoreDamaged("; ".join(str(r) for r in rows[:3]))

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; a damaged file is :class:`StoreDamaged`."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                raise _damaged(exc) from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "full" not in str(exc):
                    raise _damaged(exc) from exc
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise DiskFull(errno.ENOSPC, f"the disk holding {self.path} is full") from exc
            except sqlite3.DatabaseError as exc:
                raise _damaged(exc) from exc

    def restore_job(self, record: dict[str, Any]) -> None:
        """Insert a job record as it was (rebuilding a damaged database), unless its id
        is listed already."""
        self._restore("jobs", record)

    def restore_preset(self, record: dict[str, Any]) -> None:
        """A preset as a damaged database still held it, unless its name is taken."""
        self._restore("presets", record)

    def restore_schedule(self, record: dict[str, Any]) -> None:
        """A schedule as a damaged database still held it, unless its id is taken."""
        self._restore("schedules", record)

    def _restore(self, table: str, record: dict[str, Any]) -> None:
        columns = ", ".join(record)
        marks = ", ".join("?" * len(record))
        with self._tx() as db:
            db.execute(
                f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})",
                tuple(record.values()),
            )

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
        slot: ScheduleSlot | None = None,
    ) -> tuple[Job, bool]:
        """Insert a queued job; with an idempotency key already used, return that job
        instead.  Returns (job, created).  With a schedule ``slot``, the schedule's run
        is counted in the same transaction: the job and the count exist together or not
        at all (:class:`Conflict` if the slot was taken or the schedule changed)."""
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
            if slot is not None and not self._take_slot(db, slot, jid):
                raise Conflict(f"schedule {slot.schedule_id}'s slot was taken, paused or deleted")
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (jid,)).fetchone()
        return _job(row), True

    @staticmethod
    def _take_slot(db: sqlite3.Connection, slot: ScheduleSlot, job_id: str | None) -> bool:
        """Move the schedule past ``slot`` (a run if ``job_id``, else a skip) — only if
        no one else did: its ``next_at`` is still the slot's and it is enabled."""
        cur = db.execute(
            "UPDATE schedules SET next_at = ?, runs = runs + ?, skipped = ?, "
            "last_job = COALESCE(?, last_job), enabled = ?, error = NULL "
            "WHERE id = ? AND next_at = ? AND enabled = 1",
            (
                slot.next_at,
                0 if job_id is None else 1,
                slot.skipped,
                job_id,
                0 if slot.finished else 1,
                slot.schedule_id,
                slot.expect_next_at,
            ),
        )
        return cur.rowcount == 1

    def skip_slot(self, slot: ScheduleSlot) -> Schedule | None:
        """Count ``slot`` as skipped; None if it was taken, paused or deleted meanwhile."""
        with self._tx() as db:
            if not self._take_slot(db, slot, None):
                return None
        return self.schedule(slot.schedule_id)

    def job(self, job_id: str) -> Job:
        with self._reading() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _job(row)

    def job_by_idempotency_key(self, key: str) -> Job | None:
        with self._reading() as db:
            row = db.execute("SELECT * FROM jobs WHERE idempotency_key = ?", (key,)).fetchone()
        return None if row is None else _job(row)

    def jobs(self, *, limit: int = 100, states: tuple[str, ...] | None = None) -> list[Job]:
        query, args = "SELECT * FROM jobs", []  # type: tuple[str, list[object]]
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            args.extend(states)
        query += " ORDER BY created DESC, id DESC LIMIT ?"
        args.append(limit)
        with self._reading() as db:
            rows = db.execute(query, args).fetchall()
        return [_job(r) for r in rows]

    def queued(self) -> list[Job]:
        """Jobs waiting to run, oldest first (FIFO)."""
        with self._reading() as db:
            rows = db.execute(
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

    def delete_job(self, job_id: str, *, ended: bool = False) -> None:
        """Delete a job's record (``ended``: it reads active here, but it has ended and a
        full disk kept that out of the database)."""
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id!r}")
            if JobState(row["state"]).active and not ended:
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

    # -- callbacks (an outbox: a callback survives a restart) ------------------------
    def add_callback(self, job_id: str, url: str, payload: dict[str, Any], now: float) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO callbacks (job_id, url, payload, next_at, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (job_id, url, json.dumps(payload), now, now),
            )
            return int(cur.lastrowid or 0)

    def due_callbacks(self, now: float) -> list[PendingCallback]:
        """Callbacks waiting to be tried at ``now``, oldest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM callbacks WHERE delivered IS NULL AND given_up IS NULL "
                "AND next_at <= ? ORDER BY next_at, id",
                (now,),
            ).fetchall()
        return [
            PendingCallback(
                r["id"],
                r["job_id"],
                r["url"],
                json.loads(r["payload"]),
                r["attempts"],
                r["next_at"],
            )
            for r in rows
        ]

    def next_callback_at(self) -> float | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT MIN(next_at) FROM callbacks WHERE delivered IS NULL AND given_up IS NULL"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def callback_tried(
        self,
        callback_id: int,
        *,
        now: float,
        status: int | None,
        error: str | None,
        retry_at: float | None,
    ) -> None:
        """One attempt's outcome: delivered (no error), to be retried at ``retry_at``,
        or given up (an error and no retry)."""
        delivered = now if error is None else None
        given_up = now if error is not None and retry_at is None else None
        with self._tx() as db:
            db.execute(
                "UPDATE callbacks SET attempts = attempts + 1, last_status = ?, last_error = ?, "
                "delivered = ?, given_up = ?, next_at = COALESCE(?, next_at) WHERE id = ?",
                (status, error, delivered, given_up, retry_at, callback_id),
            )

    def callbacks(self, job_id: str) -> list[dict[str, Any]]:
        """A job's callbacks and how they went (for status and tests)."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, url, attempts, next_at, delivered, given_up, last_status, "
                "last_error FROM callbacks WHERE job_id = ? ORDER BY id",
                (job_id,),
            ).fetchall()
        return [dict(r) for r in rows]

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
        with self._reading() as db:
            row = db.execute("SELECT * FROM presets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no preset {name!r}")
        return Preset(row["name"], json.loads(row["plan"]), row["created"], row["updated"])

    def presets(self) -> list[Preset]:
        with self._reading() as db:
            rows = db.execute("SELECT * FROM presets ORDER BY name").fetchall()
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
        with self._reading() as db:
            row = db.execute("SELECT * FROM schedules WHERE id = ?", (schedule_id,)).fetchone()
        if row is None:
            raise NotFound(f"no schedule {schedule_id!r}")
        return _schedule(row)

    def schedules(self) -> list[Schedule]:
        with self._reading() as db:
            rows = db.execute("SELECT * FROM schedules ORDER BY created").fetchall()
        return [_schedule(r) for r in rows]

    def update_schedule(self, schedule_id: str, **fields: Any) -> Schedule:
        allowed = {"next_at", "runs", "skipped", "enabled", "last_job", "error"}
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

    # -- logged-out sessions (the web page's cookies are valid until they expire) ------
    def end_session(self, session_id: str, expires: float) -> None:
        """Remember a logged-out session until it would have expired (kept across
        restarts: a logout must not come undone)."""
        with self._tx() as db:
            db.execute("DELETE FROM ended_sessions WHERE expires < ?", (time.time(),))
            db.execute(
                "INSERT OR REPLACE INTO ended_sessions (id, expires) VALUES (?, ?)",
                (session_id, expires),
            )

    def session_ended(self, session_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM ended_sessions WHERE id = ?", (session_id,)
            ).fetchone()
        return row is not None


def _damaged(exc: sqlite3.Error) -> Exception:
    """SQLite's complaint as the rig's: a locked database stays an OperationalError."""
    if isinstance(exc, sqlite3.IntegrityError) or "locked" in str(exc):
        return exc
    return StoreDamaged(
        f"the job database is damaged ({exc}): restart the rig to set it aside and "
        "rebuild the job list from the job folders"
    )


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
        error=row["error"],
    )
