"""The runner: one thread that owns the rail and camera and runs jobs one at a time.

Jobs wait in the store (state ``queued``, first in first out).  A stack job captures
(:mod:`rig.jobs.capture`) while its frames are saved (:mod:`rig.jobs.writer`) and fused
(:mod:`rig.jobs.stacking`) in other threads; a restack job fuses saved frames again.
However a run ends, it ends as an :class:`~rig.jobs.outcome.Outcome`, which one table
turns into the job's final state.  What clients ask of jobs (submit, cancel, resume,
restack) is in :mod:`rig.jobs.commands`.  Everything else that wants the rail (jog,
move, home from the web page) must take :attr:`Runner.rail_lock` without waiting, and
is refused while a job holds it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from rig.devices import Devices
from rig.durable import DiskFull
from rig.errors import Conflict, NotFound, StoreDamaged
from rig.events import EventBus
from rig.job_files import PREVIEW_FILE, FrameEntry, JobFiles
from rig.jobs.capture import Capture, StopFlags
from rig.jobs.focus import focus_axis
from rig.jobs.heartbeat import Heartbeat
from rig.jobs.outcome import JobEnded, Outcome, ending
from rig.jobs.progress import Progress
from rig.jobs.stacking import StackAborted, Stacker, StackerFactory, StackWorker, Ticket
from rig.jobs.state import JobState
from rig.jobs.view import JobView
from rig.jobs.writer import FrameWriter
from rig.plan import StackPlan
from rig.store import Job, Store
from stacker.health import summary_json

log = logging.getLogger(__name__)

# How long the runner waits for a manual move to finish before a job starts anyway.
_RAIL_WAIT_S = 120.0
# How often an idle runner looks at the queue without being woken (a backstop only).
_IDLE_POLL_S = 1.0


class Runner:
    def __init__(
        self,
        devices: Devices | None,
        store: Store,
        bus: EventBus,
        *,
        data_dir: Path,
        hardware_error: str | None = None,
        make_stacker: StackerFactory = StackWorker,
    ) -> None:
        self.devices = devices
        self.store = store
        self.bus = bus
        self.data_dir = data_dir
        self.hardware_error = hardware_error
        self._make_stacker = make_stacker  # here, or handed to a cluster (stacking.cluster)
        self.rail_lock = threading.Lock()
        self.heartbeat = Heartbeat()
        self._wake = threading.Condition()
        self._woken = False  # set by wake() under the lock: a wake-up is never lost
        self._stop_flags: StopFlags | None = None
        self._shutdown = threading.Event()
        self._current: Job | None = None
        self._worker: Stacker | None = None  # the current job's, for cancel/shutdown
        self._health: dict[str, Any] | None = None  # the last stack's health summary
        self._unsaved: dict[str, tuple[JobState, dict[str, Any]]] = {}
        self._unsaved_lock = threading.Lock()
        self.progress: Progress | None = None
        self.last_fuse_s = 0.0  # the stacker's recent time per frame (for status and benchmarks)
        self._thread = threading.Thread(target=self._loop, name="runner", daemon=True)

    # -- control (any thread) --------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop after the frame in progress; the running job becomes interrupted."""
        self._shutdown.set()
        flags = self._stop_flags
        if flags is not None:
            flags.shutdown.set()
        self._abort_stacking()
        self.wake()
        if self._thread.ident is None:  # never started
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the runner did not stop within %.0f s", timeout)

    def stop(self, job_id: str) -> bool:
        """Cancel ``job_id`` if it is the job running now (after its current frame);
        whether it was."""
        current, flags = self._current, self._stop_flags
        if current is None or current.id != job_id or flags is None:
            return False
        flags.cancel.set()
        self._abort_stacking()
        return True

    def wake(self) -> None:
        """Look at the queue now (a job was queued, or a shutdown asked for)."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def current(self) -> Job | None:
        return self._current

    def busy(self) -> bool:
        return self._current is not None or bool(self.store.queued())

    def view(self, job: Job) -> JobView:
        """The job as clients see it, with this runner's progress if it is the current one."""
        return JobView.of(self.effective(job), JobFiles(self.data_dir, job.id), self.progress)

    def effective(self, job: Job) -> Job:
        """The job as it is: with the end a full disk kept out of the database."""
        pending = self._unsaved.get(job.id)
        if pending is None:
            return job
        state, fields = pending
        return job.model_copy(update={"state": state, **fields})

    def has_unsaved_end(self, job_id: str) -> bool:
        return job_id in self._unsaved

    def forget_unsaved(self, job_id: str) -> None:
        """The job is being deleted: its end need not be written any more."""
        with self._unsaved_lock:
            self._unsaved.pop(job_id, None)

    def announce(self, job: Job) -> None:
        self.bus.publish("job", job=self.view(job).as_event())

    def _abort_stacking(self) -> None:
        """Once the capture is over, a stop ends the fusing too (the frames stay)."""
        worker, progress = self._worker, self.progress
        if worker is not None and progress is not None and progress.phase == "stacking":
            worker.request_abort()

    # -- the thread ------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._shutdown.is_set():
            self.save_pending()
            try:
                queued = self.store.queued()
            except (sqlite3.Error, StoreDamaged):
                log.exception("the job database cannot be read")
                queued = []
                self._sleep(30.0)  # not again at once: the database will not heal by itself
            if not queued:
                self._sleep(_IDLE_POLL_S)
                continue
            self._run(queued[0])

    def _sleep(self, timeout: float) -> None:
        """Wait for wake() or the timeout; a wake() that came while the loop was busy
        (between reading the queue and getting here) ends the wait at once."""
        with self._wake:
            if not self._woken:
                self._wake.wait(timeout)
            self._woken = False

    def _run(self, job: Job) -> None:
        flags = StopFlags()
        self._stop_flags, self._current = flags, job
        self._health = None
        if self._shutdown.is_set():
            flags.shutdown.set()
        try:
            try:
                outputs = self._execute(job, flags)
            except JobEnded as end:
                self._finish(job, end.outcome, end.detail)
            else:
                if outputs is not None:
                    self._finish(job, Outcome.DONE, outputs=outputs, health=self._health)
        except Exception as exc:  # a bug must not kill the runner: fail the job loudly
            log.exception("job %s failed unexpectedly", job.id)
            with contextlib.suppress(Exception):
                self._finish(job, Outcome.BUG, str(exc))
        finally:
            self._stop_flags, self._current, self.progress, self._worker = None, None, None, None

    def _execute(self, job: Job, flags: StopFlags) -> list[str] | None:
        """Run the job: its result files, or None if it was cancelled before it started.
        Raises :class:`JobEnded` for every other way it can end."""
        if job.kind == "restack":
            return self._restack(job, flags)
        if self.devices is None:
            raise JobEnded(Outcome.NO_HARDWARE, self.hardware_error or "unknown reason")
        return self._stack(job, flags, self.devices)

    def _claim(self, job: Job, state: JobState, **fields: Any) -> Job | None:
        """Queued → ``state``; None if a cancel changed the job first (it stays cancelled)."""
        try:
            claimed = self.store.set_state(job.id, state, expect=(JobState.QUEUED,), **fields)
        except Conflict:
            log.info("job %s was cancelled before it started", job.id)
            return None
        self._current = claimed
        self.announce(claimed)
        return claimed

    def _stack(self, queued: Job, flags: StopFlags, devices: Devices) -> list[str] | None:
        plan = StackPlan.model_validate(queued.plan)
        positions = plan.positions()
        files = JobFiles(self.data_dir, queued.id)
        files.create()
        kept = _contiguous(files.reconcile())
        start = len(kept)
        job = self._claim(
            queued,
            JobState.RUNNING,
            started=queued.started or time.time(),
            frames_done=start,
            error=None,
        )
        if job is None:
            return None
        self.progress = Progress(job.id, "capturing", frame=start, count=len(positions))
        worker = self._start_worker(
            self._make_stacker(
                plan,
                len(positions),
                files,
                on_progress=self._on_fused,
                on_finding=lambda f: self._on_finding(job.id, f),
            )
        )
        for entry in kept:  # a resumed job: fuse what it has first
            worker.submit(Ticket(entry.index, files.dir / entry.file, None))
        try:
            self._capture(job, plan, positions, start, files, worker, flags, devices)
        except BaseException:
            worker.abort()
            raise
        self.announce(self.store.set_state(job.id, JobState.STACKING))
        return self._fuse(worker, flags)

    def _capture(
        self,
        job: Job,
        plan: StackPlan,
        positions: list[float],
        start: int,
        files: JobFiles,
        worker: Stacker,
        flags: StopFlags,
        devices: Devices,
    ) -> None:
        """Take frames ``start``… holding the rail; return to the start if the plan says so."""
        if not self.rail_lock.acquire(timeout=_RAIL_WAIT_S):
            raise JobEnded(Outcome.RAIL_BUSY)
        writer = FrameWriter(
            files, plan.frame_format, worker, on_saved=lambda e: self._on_saved(job, e)
        )
        capture = Capture(
            devices,
            focus_axis(plan, devices, self.heartbeat),
            plan,
            positions,
            writer,
            self.heartbeat,
            flags,
            on_frame=self._on_captured,
        )
        try:
            with devices.rail.hold():
                try:
                    capture.run(start)
                finally:
                    writer.close()
                if plan.return_to_start:
                    capture.return_to_start()
        except JobEnded as end:
            if end.outcome is Outcome.CANCELLED and plan.return_to_start:
                worker.request_abort()  # the frames stay; fusing them is for a restack
                self._return_after_cancel(capture, devices)
            raise
        except DiskFull as exc:
            raise JobEnded(Outcome.DISK_FULL, str(len(files.entries()))) from exc
        finally:
            self.rail_lock.release()

    def _return_after_cancel(self, capture: Capture, devices: Devices) -> None:
        try:
            with devices.rail.hold():
                capture.return_to_start()
        except Exception as exc:  # the frames are safe; say why the rail stayed put
            log.warning("could not return to the start after cancelling: %s", exc)

    def _restack(self, queued: Job, flags: StopFlags) -> list[str] | None:
        assert queued.source_job is not None
        plan = StackPlan.model_validate(queued.plan)
        source = JobFiles(self.data_dir, queued.source_job)
        entries = source.entries()
        files = JobFiles(self.data_dir, queued.id)
        files.create()
        job = self._claim(queued, JobState.STACKING, started=time.time(), frames_done=len(entries))
        if job is None:
            return None
        self.progress = Progress(job.id, "stacking", frame=len(entries), count=len(entries))
        frame_paths = [source.dir / e.file for e in entries]
        worker = self._start_worker(
            self._make_stacker(
                plan,
                len(entries),
                files,
                on_progress=self._on_fused,
                frame_paths=frame_paths,
            )
        )
        for entry, path in zip(entries, frame_paths, strict=True):
            worker.submit(Ticket(entry.index, path, None))
        return self._fuse(worker, flags)

    def _start_worker(self, worker: Stacker) -> Stacker:
        worker.start()
        self._worker = worker
        if self.progress is not None:
            self.progress.stacked_on = worker.where
        return worker

    def _fuse(self, worker: Stacker, flags: StopFlags) -> list[str]:
        """Wait for the stacking worker to fuse every frame: the result files."""
        if self.progress is not None:
            self.progress.phase = "stacking"
        if flags.requested:  # came while the phase changed
            worker.request_abort()
        try:
            outputs = worker.finish()
            self._health = summary_json(worker.health)
            return outputs
        except StackAborted:
            stopped = Outcome.STOPPED_STACKING if flags.shutdown.is_set() else Outcome.CANCELLED
            raise JobEnded(stopped) from None
        except Exception as exc:
            raise JobEnded(Outcome.STACKING_FAILED, str(exc)) from exc

    # -- bookkeeping -----------------------------------------------------------------
    def _finish(
        self,
        job: Job,
        outcome: Outcome,
        detail: str = "",
        outputs: list[str] | None = None,
        health: dict[str, Any] | None = None,
    ) -> None:
        state, error = ending(outcome, detail)
        fields: dict[str, Any] = {"finished": time.time(), "error": error}
        if outputs is not None:
            fields["outputs"] = outputs
        if health is not None:
            fields["health"] = health
        log.info("job %s %s%s", job.id, state, f": {error}" if error else "")
        try:
            done = self.store.set_state(job.id, state, **fields)
        except DiskFull:
            # Say it anyway; the record is written as soon as the disk has room again.
            log.error("job %s: the database is on a full disk; its state is saved later", job.id)
            self._unsaved[job.id] = (state, fields)
            done = job.model_copy(update={"state": state, **fields})
        except Conflict as exc:  # e.g. cancelled before it could fail for want of hardware
            log.warning("job %s not marked %s: %s", job.id, state, exc)
            return
        self.announce(done)

    def save_pending(self) -> bool:
        """Write job states that a full disk kept out of the database (from any thread);
        whether none is left unsaved."""
        with self._unsaved_lock:
            for job_id, (state, fields) in list(self._unsaved.items()):
                try:
                    self.store.set_state(job_id, state, **fields)
                except DiskFull:
                    return False
                except (Conflict, NotFound) as exc:
                    log.warning("job %s not marked %s: %s", job_id, state, exc)
                self._unsaved.pop(job_id, None)
            return True

    def _on_saved(self, job: Job, entry: FrameEntry) -> None:
        self.store.update_job(job.id, frames_done=entry.index + 1)  # DiskFull stops the capture

    def _on_captured(self, index: int, position_mm: float) -> None:
        progress = self.progress
        if progress is None:
            return
        progress.captured(index, time.monotonic(), position_mm)
        self.bus.publish("frame", **progress.as_dict())

    def _on_finding(self, job_id: str, finding: dict[str, Any]) -> None:
        """A health finding the rest of the stack cannot change, while it runs."""
        self.bus.publish("health", job_id=job_id, finding=finding)

    def _on_fused(self, fused: int, seconds_per_frame: float) -> None:
        progress = self.progress
        if progress is None:
            return
        progress.fused = fused
        # The fused image exists from the reference frame on: say so, so that clients
        # ask for it only then (not for a 404 at every frame before).
        progress.preview = JobFiles(self.data_dir, progress.job_id).path(PREVIEW_FILE).is_file()
        self.last_fuse_s = seconds_per_frame
        worker = self._worker
        if worker is not None:  # a cluster that failed: stacked here after all
            progress.stacked_on = worker.where
        self.bus.publish(
            "fused",
            job_id=progress.job_id,
            fused=fused,
            count=progress.count,
            preview=progress.preview,
            seconds_per_frame=round(seconds_per_frame, 3),
            stacked_on=progress.stacked_on,
        )


def _contiguous(entries: list[FrameEntry]) -> list[FrameEntry]:
    """The frames 0, 1, 2… without a gap (a resume continues right after them)."""
    kept = []
    for expected, entry in enumerate(entries):
        if entry.index != expected:
            break
        kept.append(entry)
    return kept
