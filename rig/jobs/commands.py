"""What clients ask of jobs — submit, restack, cancel, resume — each checked, then one
state change in the store, announced, and the runner woken.

The state rules themselves (which change is allowed from where) are in
:mod:`rig.jobs.state`, enforced by the store in the same transaction as the write, so
a cancel and the runner starting that job cannot both win.
"""

from __future__ import annotations

import errno
import logging
import time

from pydantic import ValidationError

from rig.durable import DiskFull
from rig.errors import Conflict, HardwareUnavailable, InvalidRequest, InvalidValue, RigBusy
from rig.job_files import JobFiles
from rig.jobs.preflight import PlanEstimate, RigLimits, preflight
from rig.jobs.runner import Runner
from rig.jobs.state import JobState
from rig.net_guard import AddressPolicy, vet_url
from rig.plan import MIN_FRAMES, PlanError, StackPlan, estimate_bytes
from rig.store import Job, ScheduleSlot, Store

log = logging.getLogger(__name__)


class JobCommands:
    def __init__(
        self,
        store: Store,
        runner: Runner,
        limits: RigLimits,
        callback_policy: AddressPolicy | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.limits = limits
        self.callback_policy = callback_policy or AddressPolicy()

    def preflight(self, plan: StackPlan) -> PlanEstimate:
        """Check ``plan`` against this rig (:class:`PlanError` if it cannot run here),
        the disk it needs beside what the queued and running jobs will still write."""
        return preflight(
            plan, self.limits, has_lens=self._has_lens(), committed_bytes=self._committed_bytes()
        )

    def _committed_bytes(self) -> int:
        """Disk the active jobs will still fill: their frames to come and results."""
        total = 0
        for job in self.store.jobs(limit=10_000, states=(JobState.QUEUED, JobState.RUNNING)):
            job = self.runner.effective(job)
            if not job.active:
                continue
            try:
                plan = StackPlan.model_validate(job.plan)
            except ValidationError:
                continue
            to_take = 0 if job.kind == "restack" else max(0, job.frames_planned - job.frames_done)
            total += estimate_bytes(plan, self.limits.frame_size, to_take)
        return total

    def _check_queue_room(self) -> None:
        waiting = len(self.store.queued())
        if waiting >= self.limits.queue_max:
            raise RigBusy(
                f"{waiting} stacks are already waiting (at most {self.limits.queue_max}, "
                "jobs.queue_max in the configuration): wait for them or cancel some"
            )

    def submit(
        self,
        plan: StackPlan,
        *,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> tuple[Job, bool]:
        """Queue a stack (checks it first).  Returns (job, created): a repeated
        idempotency key returns the first job instead of queueing another."""
        return self._submit(plan, idempotency_key, callback_url, None)

    def submit_scheduled(self, preset: str, slot: ScheduleSlot) -> Job:
        """Queue the preset for a schedule's ``slot``, counted in the job's own
        transaction (:class:`Conflict` if the slot was taken meanwhile)."""
        job, _ = self._submit(self.preset_plan(preset), None, None, slot)
        return job

    def _submit(
        self,
        plan: StackPlan,
        idempotency_key: str | None,
        callback_url: str | None,
        slot: ScheduleSlot | None,
    ) -> tuple[Job, bool]:
        plan_json = plan.model_dump(mode="json")
        request: dict[str, object] = {"plan": plan_json, "callback_url": callback_url}
        if idempotency_key is not None:
            if not idempotency_key.strip():
                raise InvalidRequest(
                    "Idempotency-Key is empty: send a non-empty key, or no header at all"
                )
            existing = self.store.job_by_idempotency_key(idempotency_key)
            if existing is not None:
                return _same_request(existing, idempotency_key, request), False
        self._require_hardware()
        self._check_queue_room()
        self.preflight(plan)
        if callback_url is not None:
            vet_url(callback_url, self.callback_policy)
        job, created = self.store.create_job(
            kind="stack",
            name=plan.name or "stack",
            plan=plan_json,
            frames_planned=plan.frame_count,
            idempotency_key=idempotency_key,
            callback_url=callback_url,
            schedule_id=slot.schedule_id if slot else None,
            slot=slot,
        )
        if not created:  # the same key, inserted by a request that raced this one
            assert idempotency_key is not None
            return _same_request(job, idempotency_key, request), False
        self._write_card(job)
        self._queued(job)
        return job, created

    def submit_preset(self, name: str, **options: str | None) -> tuple[Job, bool]:
        """:meth:`submit` the plan saved as preset ``name``."""
        return self.submit(self.preset_plan(name), **options)

    def preset_plan(self, name: str) -> StackPlan:
        """The saved plan (NotFound; PlanError if it no longer is a valid plan)."""
        saved = self.store.preset(name)
        try:
            return StackPlan.model_validate(saved.plan)
        except ValidationError as exc:
            problems = [f"preset {name!r}: {e['msg']}" for e in exc.errors()]
            raise PlanError(problems) from None

    def restack(self, job_id: str, method: str | None = None) -> Job:
        """Fuse a job's saved frames again (e.g. after a cancel, or with the other method)."""
        source = self.store.job(job_id)
        if source.active:
            raise Conflict(f"job {job_id} is {source.state}: wait for it or cancel it first")
        frames_of = source.source_job if source.kind == "restack" else None
        frames = JobFiles(self.runner.data_dir, frames_of or source.id).entries()
        if len(frames) < MIN_FRAMES:
            raise Conflict(f"job {job_id} has {len(frames)} saved frame(s): at least 2 are needed")
        self._check_queue_room()
        plan = dict(source.plan)
        if method is not None:
            plan["method"] = method
        job, _ = self.store.create_job(
            kind="restack",
            name=f"{source.name} (restack)",
            plan=plan,
            frames_planned=len(frames),
            source_job=frames_of or source.id,
        )
        self._write_card(job)
        self._queued(job)
        return job

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; the running one after its current frame.
        A job that already stopped because the disk filled (its end not yet written) is
        returned as it is: there is nothing left to stop."""
        if self.runner.has_unsaved_end(job_id):
            self.runner.save_pending()
            return self.runner.effective(self.store.job(job_id))
        try:
            job = self.store.set_state(
                job_id, JobState.CANCELLED, expect=(JobState.QUEUED,), finished=time.time()
            )
        except Conflict:  # not queued (any more): the running job, or nothing to cancel
            if self.runner.stop(job_id):
                return self.store.job(job_id)
            job = self.store.job(job_id)
            raise Conflict(f"job {job_id} is {job.state}: there is nothing to cancel") from None
        self.runner.announce(job)
        return job

    def resume(self, job_id: str) -> Job:
        """Continue an interrupted (or cancelled/failed) stack at its next frame; a
        restack starts its fusion again (its frames are all saved)."""
        if self.runner.has_unsaved_end(job_id) and not self.runner.save_pending():
            raise DiskFull(
                errno.ENOSPC,
                f"the disk is still full, so job {job_id} cannot resume: delete old stacks first",
            )
        job = self.store.job(job_id)
        if not job.state.resumable:
            raise Conflict(
                f"job {job_id} is {job.state}: "
                "only an interrupted, cancelled or failed job can resume"
            )
        if job.kind == "stack":
            self._require_hardware()
        job = self.store.set_state(job_id, JobState.QUEUED, error=None, finished=None)
        self._queued(job)
        return job

    # -- helpers ---------------------------------------------------------------------
    def _write_card(self, job: Job) -> None:
        """``job.json`` in the job's folder: what a damaged database is rebuilt from."""
        card = job.model_dump(
            mode="json",
            include={"id", "kind", "name", "plan", "created", "frames_planned"}
            | {"source_job", "schedule_id", "callback_url"},
        )
        try:
            JobFiles(self.runner.data_dir, job.id).write_card(card)
        except OSError as exc:  # the job runs all the same; only a rebuild would miss it
            log.warning("job %s: could not write its job.json: %s", job.id, exc)

    def _queued(self, job: Job) -> None:
        self.runner.announce(job)
        self.runner.wake()

    def _require_hardware(self) -> None:
        if self.runner.devices is None:
            raise HardwareUnavailable(
                f"the rig's hardware is not available: {self.runner.hardware_error}"
            )

    def _has_lens(self) -> bool:
        """Whether the camera has a focus motor (Camera Module 3 lens sweeps)."""
        devices = self.runner.devices
        if devices is None:
            return False
        try:
            return devices.camera.lens_position is not None
        except Exception:
            return False


def _same_request(job: Job, key: str, request: dict[str, object]) -> Job:
    """The job a repeated Idempotency-Key made, if this request is the same as the one
    that made it; a different request with the same key is refused (422, as the IETF
    Idempotency-Key draft says), never answered with an unrelated job."""
    if {"plan": job.plan, "callback_url": job.callback_url} != request:
        raise InvalidValue(
            f"Idempotency-Key {key[:60]!r} was used for a different request (job {job.id}): "
            "send a new key with a new request"
        )
    return job
