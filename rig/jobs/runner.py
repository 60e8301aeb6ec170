"""The runner: one thread that owns the rail and camera and runs jobs one at a time.

Jobs wait in the store (state ``queued``, first in first out).  A stack job captures
(:mod:`rig.jobs.capture`) while its frames are saved (:mod:`rig.jobs.writer`) and fused
(:mod:`rig.jobs.stacking`) in other threads; a restack job fuses saved frames again.
Everything else that wants the rail (jog, move, home from the web page) must take
:attr:`Runner.rail_lock` without waiting, and is refused while a job holds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.devices import Devices
from rig.durable import DiskFull
from rig.events import EventBus
from rig.job_files import FrameEntry, JobFiles
from rig.jobs.capture import Capture, CaptureFailed, CaptureStopped, StopFlags
from rig.jobs.heartbeat import Heartbeat
from rig.jobs.stacking import StackAborted, StackWorker, Ticket
from rig.jobs.writer import FrameWriter
from rig.plan import StackPlan, check_plan
from rig.store import Conflict, Job, Store

log = logging.getLogger(__name__)

# How long the runner waits for a manual move to finish before a job starts anyway.
_RAIL_WAIT_S = 120.0


class RigUnavailable(RuntimeError):
    """The hardware failed to start: jobs cannot run (the message says why)."""


@dataclass
class Progress:
    """What the current job is doing, for the status page and events."""

    job_id: str
    phase: str  # "capturing", "stacking"
    frame: int = 0  # frames captured so far
    count: int = 0
    fused: int = 0
    started: float = 0.0
    first_frame: tuple[int, float] | None = None  # (frame count, time) when capturing began
    eta_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "phase": self.phase,
            "frame": self.frame,
            "count": self.count,
            "fused": self.fused,
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
        }


class Runner:
    def __init__(
        self,
        devices: Devices | None,
        store: Store,
        bus: EventBus,
        *,
        data_dir: Path,
        soft_limits: tuple[float, float],
        frame_size: tuple[int, int],
        hardware_error: str | None = None,
    ) -> None:
        self.devices = devices
        self.store = store
        self.bus = bus
        self.data_dir = data_dir
        self.soft_limits = soft_limits
        self.frame_size = frame_size
        self.hardware_error = hardware_error
        self.rail_lock = threading.Lock()
        self.heartbeat = Heartbeat()
        self._wake = threading.Condition()
        self._stop_flags: StopFlags | None = None
        self._shutdown = threading.Event()
        self._current: Job | None = None
        self._worker: StackWorker | None = None  # the current job's, for cancel/shutdown
        self._unsaved: dict[str, tuple[str, dict[str, Any]]] = {}
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
        worker = self._worker
        if worker is not None and self.progress is not None and self.progress.phase == "stacking":
            worker.request_abort()
        self._notify()
        if self._thread.ident is None:  # never started
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the runner did not stop within %.0f s", timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def current(self) -> Job | None:
        return self._current

    def busy(self) -> bool:
        return self._current is not None or bool(self.store.queued())

    def submit(
        self,
        plan: StackPlan,
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
        schedule_id: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a stack (checks it first).  Returns (job, created): a repeated
        idempotency key returns the first job instead of queueing another."""
        if idempotency_key is not None:
            existing = self.store.job_by_idempotency_key(idempotency_key)
            if existing is not None:
                return existing, False
        self._check_available()
        check_plan(
            plan,
            soft_limits=self.soft_limits,
            frame_size=self.frame_size,
            data_dir=self.data_dir,
            has_lens=self.has_lens(),
        )
        job, created = self.store.create_job(
            kind="stack",
            name=plan.name or "stack",
            plan=plan.model_dump(mode="json"),
            frames_planned=plan.frame_count,
            idempotency_key=idempotency_key,
            callback_url=callback_url,
            schedule_id=schedule_id,
        )
        if created:
            self._announce(job)
            self._notify()
        return job, created

    def restack(self, job_id: str, method: str | None = None) -> Job:
        """Fuse a job's saved frames again (e.g. after a cancel, or with the other method)."""
        source = self.store.job(job_id)
        if source.active:
            raise Conflict(f"job {job_id} is {source.state}: wait for it or cancel it first")
        frames = JobFiles(
            self.data_dir, (source.kind == "restack" and source.source_job) or source.id
        ).entries()
        if len(frames) < 2:
            raise Conflict(f"job {job_id} has {len(frames)} saved frame(s): at least 2 are needed")
        plan = dict(source.plan)
        if method is not None:
            plan["method"] = method
        job, _ = self.store.create_job(
            kind="restack",
            name=f"{source.name} (restack)",
            plan=plan,
            frames_planned=len(frames),
            source_job=source.source_job if source.kind == "restack" else source.id,
        )
        self._announce(job)
        self._notify()
        return job

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; the running one after its current frame."""
        job = self.store.job(job_id)
        if job.state == "queued":
            job = self.store.set_state(
                job_id, "cancelled", expect=("queued",), finished=time.time()
            )
            self._announce(job)
            return job
        current = self._current
        if current is not None and current.id == job_id and self._stop_flags is not None:
            self._stop_flags.cancel.set()
            worker = self._worker
            if (
                worker is not None
                and self.progress is not None
                and self.progress.phase == "stacking"
            ):
                worker.request_abort()  # capture is over: stop fusing (the frames stay)
            return self.store.job(job_id)
        raise Conflict(f"job {job_id} is {job.state}: there is nothing to cancel")

    def resume(self, job_id: str) -> Job:
        """Continue an interrupted (or cancelled/failed) stack at its next frame; a
        restack starts its fusion again (its frames are all saved)."""
        job = self.store.job(job_id)
        if job.state not in ("interrupted", "cancelled", "failed"):
            raise Conflict(
                f"job {job_id} is {job.state}: "
                "only an interrupted, cancelled or failed job can resume"
            )
        if job.kind == "stack":
            self._check_available()
        job = self.store.set_state(
            job_id,
            "queued",
            expect=("interrupted", "cancelled", "failed"),
            error=None,
            finished=None,
        )
        self._announce(job)
        self._notify()
        return job

    # -- the thread ------------------------------------------------------------------
    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _loop(self) -> None:
        while not self._shutdown.is_set():
            self._save_pending()
            try:
                queued = self.store.queued()
            except sqlite3.Error:
                log.exception("the job database cannot be read")
                queued = []
            if not queued:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            self._run(queued[0])

    def _run(self, job: Job) -> None:
        flags = StopFlags()
        self._stop_flags, self._current = flags, job
        if self._shutdown.is_set():
            flags.shutdown.set()
        try:
            if job.kind == "restack":
                self._run_restack(job, flags)
            elif self.devices is None:
                self._finish(
                    job,
                    "failed",
                    error=f"the rig's hardware is not available: {self.hardware_error}",
                )
            else:
                self._run_stack(job, flags)
        except Exception as exc:  # a bug must not kill the runner: fail the job loudly
            log.exception("job %s failed unexpectedly", job.id)
            with contextlib.suppress(Exception):
                self._finish(job, "failed", error=f"internal error: {exc}")
        finally:
            self._stop_flags, self._current, self.progress, self._worker = None, None, None, None

    def _run_stack(self, job: Job, flags: StopFlags) -> None:
        assert self.devices is not None
        plan = StackPlan.model_validate(job.plan)
        positions = plan.positions()
        files = JobFiles(self.data_dir, job.id)
        files.create()
        kept = _contiguous(files.reconcile())
        start = len(kept)
        job = self.store.set_state(
            job.id, "running", started=job.started or time.time(), frames_done=start, error=None
        )
        self._announce(job)
        self.progress = Progress(
            job.id, "capturing", frame=start, count=len(positions), started=time.monotonic()
        )
        worker = StackWorker(plan, len(positions), files, on_progress=self._on_fused)
        worker.start()
        self._worker = worker
        for entry in kept:  # a resumed job: fuse what it has first
            worker.submit(Ticket(entry.index, files.dir / entry.file, None))
        writer = FrameWriter(
            files, plan.frame_format, worker, on_saved=lambda e: self._on_saved(job, e)
        )
        capture = Capture(
            self.devices,
            plan,
            positions,
            writer,
            self.heartbeat,
            flags,
            on_frame=lambda i: self._on_captured(i, len(positions)),
        )
        if not self.rail_lock.acquire(timeout=_RAIL_WAIT_S):
            worker.abort()
            writer.close()
            self._finish(job, "failed", error="the rail stayed busy with a manual move")
            return
        try:
            with self.devices.rail.hold():
                try:
                    capture.run(start)
                finally:
                    writer.close()
                if plan.return_to_start:
                    capture.return_to_start()
        except CaptureStopped as stop:
            worker.abort()
            if stop.reason == "cancel":
                if plan.return_to_start:
                    self._return_after_cancel(capture)
                self._finish(job, "cancelled", error=None)
            else:
                self._finish(job, "interrupted", error="the daemon was stopped during this job")
            return
        except DiskFull:
            worker.abort()
            kept_now = len(files.entries())
            self._finish(
                job,
                "failed",
                error=f"the disk is full: {kept_now} frames were saved and kept "
                f"(free some space, then resume or restack)",
            )
            return
        except CaptureFailed as exc:
            worker.abort()
            self._finish(job, "failed", error=str(exc))
            return
        finally:
            self.rail_lock.release()
        self._stack_and_finish(job, worker, flags)

    def _return_after_cancel(self, capture: Capture) -> None:
        try:
            assert self.devices is not None
            with self.devices.rail.hold():
                capture.return_to_start()
        except Exception as exc:  # the frames are safe; say why the rail stayed put
            log.warning("could not return to the start after cancelling: %s", exc)

    def _stack_and_finish(self, job: Job, worker: StackWorker, flags: StopFlags) -> None:
        job = self.store.set_state(job.id, "stacking")
        self._announce(job)
        if self.progress is not None:
            self.progress.phase = "stacking"
        if flags.cancel.is_set() or flags.shutdown.is_set():  # came while the phase changed
            worker.request_abort()
        try:
            outputs = worker.finish()
        except StackAborted:
            if flags.shutdown.is_set():
                self._finish(
                    job, "interrupted", error="the daemon was stopped while this job stacked"
                )
            else:
                self._finish(job, "cancelled", error=None)
            return
        except Exception as exc:
            self._finish(job, "failed", error=f"stacking failed: {exc}")
            return
        self._finish(job, "done", outputs=outputs)

    def _run_restack(self, job: Job, flags: StopFlags) -> None:
        assert job.source_job is not None
        plan = StackPlan.model_validate(job.plan)
        source = JobFiles(self.data_dir, job.source_job)
        entries = source.entries()
        files = JobFiles(self.data_dir, job.id)
        files.create()
        job = self.store.set_state(
            job.id, "stacking", started=time.time(), frames_done=len(entries)
        )
        self._announce(job)
        self.progress = Progress(
            job.id, "stacking", frame=len(entries), count=len(entries), started=time.monotonic()
        )
        worker = StackWorker(
            plan,
            len(entries),
            files,
            on_progress=self._on_fused,
            frame_paths=[source.dir / e.file for e in entries],
        )
        worker.start()
        self._worker = worker
        for entry in entries:
            worker.submit(Ticket(entry.index, source.dir / entry.file, None))
        self._stack_and_finish(job, worker, flags)

    # -- bookkeeping -----------------------------------------------------------------
    def _finish(
        self, job: Job, state: str, *, error: str | None = None, outputs: list[str] | None = None
    ) -> None:
        fields: dict[str, Any] = {"finished": time.time(), "error": error}
        if outputs is not None:
            fields["outputs"] = outputs
        log.info("job %s %s%s", job.id, state, f": {error}" if error else "")
        try:
            done = self.store.set_state(job.id, state, **fields)  # type: ignore[arg-type]
        except DiskFull:
            # Say it anyway; the record is written as soon as the disk has room again.
            log.error("job %s: the database is on a full disk; its state is saved later", job.id)
            self._unsaved[job.id] = (state, fields)
            done = dataclasses.replace(job, state=state, **fields)  # type: ignore[arg-type]
        self._announce(done)

    def _save_pending(self) -> None:
        """Write job states that a full disk kept out of the database."""
        for job_id, (state, fields) in list(self._unsaved.items()):
            try:
                self.store.set_state(job_id, state, **fields)  # type: ignore[arg-type]
            except DiskFull:
                return
            del self._unsaved[job_id]

    def _on_saved(self, job: Job, entry: FrameEntry) -> None:
        self.store.update_job(job.id, frames_done=entry.index + 1)  # DiskFull stops the capture

    def _on_captured(self, index: int, count: int) -> None:
        progress = self.progress
        if progress is None:
            return
        progress.frame = index + 1
        now = time.monotonic()
        if progress.first_frame is None:  # homing and exposure set-up are not frames
            progress.first_frame = (progress.frame, now)
        else:
            done, since = progress.frame - progress.first_frame[0], now - progress.first_frame[1]
            progress.eta_s = since / done * (count - progress.frame)
        self.bus.publish("frame", **progress.as_dict())

    def _on_fused(self, fused: int, seconds_per_frame: float) -> None:
        progress = self.progress
        if progress is None:
            return
        progress.fused = fused
        self.last_fuse_s = seconds_per_frame
        self.bus.publish(
            "fused",
            job_id=progress.job_id,
            fused=fused,
            count=progress.count,
            seconds_per_frame=round(seconds_per_frame, 3),
        )

    def _announce(self, job: Job) -> None:
        self.bus.publish("job", job=job_summary(job))

    def _check_available(self) -> None:
        if self.devices is None:
            raise RigUnavailable(f"the rig's hardware is not available: {self.hardware_error}")

    def has_lens(self) -> bool:
        """Whether the camera has a focus motor (Camera Module 3 lens sweeps)."""
        if self.devices is None:
            return False
        try:
            return self.devices.camera.lens_position is not None
        except Exception:
            return False


def _contiguous(entries: list[FrameEntry]) -> list[FrameEntry]:
    """The frames 0, 1, 2… without a gap (a resume continues right after them)."""
    kept = []
    for expected, entry in enumerate(entries):
        if entry.index != expected:
            break
        kept.append(entry)
    return kept


def job_summary(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "name": job.name,
        "state": job.state,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "frames_planned": job.frames_planned,
        "frames_done": job.frames_done,
        "error": job.error,
        "outputs": job.outputs,
        "source_job": job.source_job,
        "schedule_id": job.schedule_id,
    }
