"""The job database and the job files."""

from __future__ import annotations

import json
import sqlite3
import threading

import numpy as np
import pytest

from rig.job_files import DiskFull, FrameEntry, JobFiles
from rig.jobs.state import JobState
from rig.store import Conflict, NotFound, Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    yield s
    s.close()


def new_job(store, **kw):
    return store.create_job(kind="stack", name="j", plan={"count": 3}, frames_planned=3, **kw)


def test_jobs_queue_in_order_and_change_state(store):
    a, _ = new_job(store)
    b, _ = new_job(store)
    assert [j.id for j in store.queued()] == [a.id, b.id]
    store.set_state(a.id, "running", expect=("queued",))
    assert [j.id for j in store.queued()] == [b.id]
    with pytest.raises(Conflict, match="is running"):
        store.set_state(a.id, "cancelled", expect=("queued",))
    with pytest.raises(NotFound):
        store.job("nope")


def test_an_idempotency_key_returns_the_same_job(store):
    a, created_a = new_job(store, idempotency_key="k1")
    b, created_b = new_job(store, idempotency_key="k1")
    assert created_a and not created_b and a.id == b.id
    assert len(store.jobs()) == 1


def test_jobs_left_running_by_a_dead_daemon_become_interrupted(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    a, _ = new_job(s)
    s.set_state(a.id, "running")
    s.close()
    s = Store(tmp_path / "db.sqlite")  # the next start
    assert [j.id for j in s.interrupt_leftovers()] == [a.id]
    assert s.job(a.id).state == "interrupted"
    s.close()


def test_active_jobs_cannot_be_deleted(store):
    a, _ = new_job(store)
    with pytest.raises(Conflict, match="cancel it first"):
        store.delete_job(a.id)
    store.set_state(a.id, "cancelled")
    store.delete_job(a.id)
    with pytest.raises(NotFound):
        store.job(a.id)


def test_presets_and_schedules(store):
    store.save_preset("bee", {"count": 10})
    store.save_preset("bee", {"count": 20})
    assert store.preset("bee").plan == {"count": 20}
    s = store.create_schedule(preset="bee", every_min=30, times=3, until=None, start_at=100.0)
    assert store.schedule(s.id).next_at == 100.0
    store.update_schedule(s.id, runs=3)
    assert store.schedule(s.id).finished
    store.delete_preset("bee")
    with pytest.raises(NotFound):
        store.preset("bee")


def frame(value=100):
    return np.full((24, 32, 3), value, np.uint8)


def test_frames_are_written_atomically_and_recorded(tmp_path):
    files = JobFiles(tmp_path, "j1")
    for i in range(3):
        files.save_frame(FrameEntry(i, files.frame_name(i, "png"), 10 + i), frame(i * 50), "png")
    assert [e.index for e in files.entries()] == [0, 1, 2]
    assert not list(files.dir.rglob("*.part"))
    assert all(p.is_file() for p in files.frame_paths())


def test_reconcile_drops_orphans_torn_lines_and_temporary_files(tmp_path):
    files = JobFiles(tmp_path, "j1")
    for i in range(2):
        files.save_frame(FrameEntry(i, files.frame_name(i, "png"), i), frame(), "png")
    # A crash after the rename but before the manifest line: an orphan frame …
    (files.frames_dir / "frame_0002.png").write_bytes(b"complete but unrecorded")
    # … a crash half-way through a write …
    (files.frames_dir / ".frame_0003.png.part").write_bytes(b"half")
    # … and one in the middle of a manifest line.
    with open(files.manifest, "a") as f:
        f.write('{"index": 3, "file": "frames/fr')
    kept = files.reconcile()
    assert [e.index for e in kept] == [0, 1]
    assert sorted(p.name for p in files.frames_dir.iterdir()) == [
        "frame_0000.png",
        "frame_0001.png",
    ]
    lines = files.manifest.read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1]


def test_a_full_disk_is_a_clear_error_and_keeps_what_was_saved(tmp_path, monkeypatch):
    files = JobFiles(tmp_path, "j1")
    files.save_frame(FrameEntry(0, files.frame_name(0, "png"), 0), frame(), "png")
    import errno

    from rig import job_files

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(job_files.os, "fsync", full)
    with pytest.raises(DiskFull, match="is full"):
        files.save_frame(FrameEntry(1, files.frame_name(1, "png"), 1), frame(), "png")
    monkeypatch.undo()
    assert [e.index for e in files.reconcile()] == [0]
    assert not list(files.dir.rglob("*.part"))


class _LetsOthersIn:
    """Stands in for the store's lock.  Whenever ``owner`` takes it afresh after having
    let go of it — between two steps of one call — ``meanwhile`` first runs to the end
    on another thread: the worst scheduling a cancel and the runner can meet."""

    def __init__(self, inner, owner: int, meanwhile) -> None:
        self._inner, self._owner, self._meanwhile = inner, owner, meanwhile
        self._depth = 0
        self._taken = 0
        self.ran_meanwhile = False

    def __enter__(self):
        mine = threading.get_ident() == self._owner
        if mine and self._depth == 0:
            self._taken += 1
            if self._taken > 1 and not self.ran_meanwhile:
                self.ran_meanwhile = True
                other = threading.Thread(target=self._meanwhile)
                other.start()
                other.join(30)  # the lock is free: it finishes (no waiting on time)
                assert not other.is_alive()
        self._inner.acquire()
        if mine:
            self._depth += 1
        return self

    def __exit__(self, *exc):
        if threading.get_ident() == self._owner:
            self._depth -= 1
        self._inner.release()


def test_a_state_change_checks_and_writes_in_one_transaction(store):
    """A cancel (queued → cancelled) and the runner starting the job (queued → running)
    both expect 'queued': exactly one of them may win, whatever the interleaving."""
    job, _ = new_job(store)
    outcomes: dict[str, str] = {}

    def change(name: str, state: str) -> None:
        try:
            store.set_state(job.id, state, expect=("queued",))
            outcomes[name] = "won"
        except Conflict:
            outcomes[name] = "refused"

    def runner_starts() -> None:
        change("runner", "running")

    store._lock = _LetsOthersIn(store._lock, threading.get_ident(), runner_starts)
    change("cancel", "cancelled")
    if not store._lock.ran_meanwhile:  # the cancel never let go half-way: the runner comes next
        runner_starts()
    assert sorted(outcomes.values()) == ["refused", "won"], outcomes
    winner = "cancelled" if outcomes["cancel"] == "won" else "running"
    assert store.job(job.id).state == winner


def test_a_state_changes_only_along_the_transitions(store):
    job, _ = new_job(store)
    store.set_state(job.id, "running")
    with pytest.raises(Conflict, match="is running"):
        store.set_state(job.id, "queued")  # a running job cannot be resumed
    store.set_state(job.id, "stacking")
    store.set_state(job.id, "done", outputs=["result.jpg"])
    for state in ("running", "stacking", "queued", "interrupted"):
        with pytest.raises(Conflict, match="is done"):
            store.set_state(job.id, state)
    done = store.job(job.id)
    assert done.state == "done" and done.state.final and not done.state.resumable


def test_states_are_stored_and_sent_as_their_plain_names(store):
    job, _ = new_job(store)
    store.set_state(job.id, JobState.CANCELLED)
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT state FROM jobs").fetchone() == ("cancelled",)
    again = store.job(job.id)
    assert again.state is JobState.CANCELLED and json.dumps(again.state) == '"cancelled"'
    assert again.state.resumable and again.state.final


def test_a_state_change_cannot_slip_in_another_field(store):
    job, _ = new_job(store)
    with pytest.raises(TypeError, match="state"):
        store.update_job(job.id, state="done")
    assert store.job(job.id).state == "queued"
