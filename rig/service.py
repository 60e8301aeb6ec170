"""The rig as one object: the service API that the web layer (and the daemon) talk to.

It opens the store and the devices, starts the runner, scheduler and callback sender,
and offers the operations a phone page or a script needs — nothing outside ``rig/``
reaches past it into the store, the runner or the configuration.  Jobs come back as
:class:`~rig.jobs.view.JobView`; refusals are :mod:`rig.errors` (and
:class:`~rig.plan.PlanError`, :class:`~rig.rail.RailError`,
:class:`~rig.durable.DiskFull`).  Manual rail moves run on a worker thread of their own
and hold the runner's rail lock, so a jog during a stack — or a move during a home —
is refused (:class:`RigBusy`) instead of fighting over the motor; jogs queue behind
jogs, so five taps on +0.01 mm are five steps.  If the hardware fails to open, the rig
still comes up to say so loudly (status, page, log) and refuses jobs; it never falls
back to the simulator.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rig.camera.base import CameraError, exposure_state
from rig.closing import close_all
from rig.config import Config
from rig.data_layout import DataLayout
from rig.devices import Devices, HardwareError, open_devices
from rig.durable import write_atomic
from rig.errors import (
    Conflict,
    HardwareUnavailable,
    InvalidRequest,
    InvalidValue,
    NotFound,
    RigBusy,
)
from rig.events import EventBus
from rig.job_files import RESULT_FILES, FrameEntry, JobFiles
from rig.jobs.callbacks import CallbackSender
from rig.jobs.commands import JobCommands
from rig.jobs.preflight import PlanEstimate, RigLimits
from rig.jobs.runner import Runner
from rig.jobs.schedule import Scheduler, ScheduleSpec
from rig.jobs.stacking import StackerFactory, StackWorker
from rig.jobs.view import JobView
from rig.net_guard import AddressPolicy
from rig.plan import StackPlan
from rig.preset_names import name_problem
from rig.rail import RailError
from rig.store import Job, Preset, Schedule
from rig.store_recovery import open_store

# The service API: the facade, the records it returns and its refusals.
__all__ = [
    "HardwareUnavailable",
    "JobView",
    "PlanEstimate",
    "Preset",
    "Rig",
    "RigBusy",
    "Schedule",
    "ScheduleSpec",
]

log = logging.getLogger(__name__)

LIGHT_AUTO_OFF_S = 300.0  # a light switched on for framing goes off by itself after this
MAX_QUEUED_JOGS = 50  # jogs waiting behind a running one (a bored thumb, not a script)


class Rig:
    def __init__(self, config: Config, *, simulate: bool) -> None:
        self.config = config
        self.simulate = simulate
        self.data_dir = config.data_dir
        self.layout = DataLayout(config.data_dir)
        self.bus = EventBus()
        self.devices: Devices | None = None
        self.hardware_error: str | None = None
        self.database_problem: str | None = None  # a damaged database set aside at start
        self._manual = ThreadPoolExecutor(1, thread_name_prefix="manual-rail")
        self._manual_error: str | None = None
        # Manual moves accepted and not yet ended (the rail lock is held while > 0),
        # whether all of them are jogs (only jogs queue), where the last jog ends, and a
        # counter a stop bumps so the jogs still waiting are dropped.
        self._manual_state = threading.Lock()
        self._manual_pending = 0
        self._manual_jogs_only = False
        self._jog_target: float | None = None
        self._manual_generation = 0
        self._marks: dict[str, float] = {}
        self._light_timer: threading.Timer | None = None
        self.started = time.time()

    # -- life cycle ------------------------------------------------------------------
    def open(self, *, start_runner: bool = True) -> None:
        """Open store and devices and start the background threads (``start_runner``
        False leaves jobs queued: for exercising the API alone)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        opened = open_store(self.layout)
        self.store, self.database_problem = opened.store, opened.problem
        interrupted = []
        for job in self.store.interrupt_leftovers():
            kept = JobFiles(self.data_dir, job.id).reconcile()
            interrupted.append(self.store.update_job(job.id, frames_done=len(kept)))
            log.warning(
                "job %s was interrupted by a stop of the daemon; %d frames kept "
                "(resume or restack it)",
                job.id,
                len(kept),
            )
        try:
            self.devices = open_devices(self.config, simulate=self.simulate)
        except HardwareError as exc:
            self.hardware_error = str(exc)
            log.error(
                "HARDWARE NOT AVAILABLE: %s — the web page and API work, stacks are refused", exc
            )
        self._marks = self._load_marks()
        self.runner = Runner(
            self.devices,
            self.store,
            self.bus,
            data_dir=self.data_dir,
            hardware_error=self.hardware_error,
            make_stacker=self._stacker_factory(),
        )
        callback_policy = AddressPolicy.of(self.config.callbacks.allow)
        self.jobs = JobCommands(
            self.store, self.runner, RigLimits.of(self.config, self.simulate), callback_policy
        )
        self.scheduler = Scheduler(
            self.store, self.bus, self.jobs.submit_scheduled, self.runner.busy
        )
        self.callbacks = CallbackSender(self.bus, self.store, policy=callback_policy)
        for job in interrupted:  # said now, so a script waiting for its callback hears
            self.runner.announce(job)
        if start_runner:
            self.runner.start()
        self.scheduler.start()
        self.callbacks.start()

    def _stacker_factory(self) -> StackerFactory:
        """Stack here, or hand the stacking to the Dask cluster of ``stacking.cluster``."""
        settings = self.config.stacking
        if settings.cluster is None:
            return StackWorker
        from rig.cluster.handoff import cluster_stackers

        log.info("stacking is handed to the cluster at %s", settings.cluster)
        return cluster_stackers(settings, self.data_dir)

    def close(self) -> None:
        """Stop after the current frame, then release everything: driver disabled, LED off."""
        devices = self.devices
        steps: list[Callable[[], None]] = [self.scheduler.stop, self.runner.shutdown]
        if devices is not None:
            steps.append(devices.rail.stop)  # a manual move decelerates and ends
        steps += [
            lambda: self._manual.shutdown(wait=True, cancel_futures=True),
            self._cancel_light_timer,
        ]
        if devices is not None:
            steps.append(devices.close)
        close_all([*steps, self.callbacks.stop, self.store.close])

    def health(self) -> tuple[bool, str]:
        """For the systemd watchdog: the runner thread lives and is not stuck."""
        if not self.runner.alive:
            return False, "the runner thread has died"
        return self.runner.heartbeat.healthy()

    # -- status ----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        usage = shutil.disk_usage(self.data_dir)
        current = self.runner.current
        return {
            "simulated": self.simulate,
            "hardware_error": self.hardware_error,
            "database_problem": self.database_problem,
            "rail": self.rail_status(),
            "camera": self._camera_status(),
            "light": self._light_status(),
            "job": self.job(current.id).as_event() if current else None,
            "progress": self.runner.progress.as_dict() if self.runner.progress else None,
            "queue": [self.runner.view(j).as_event() for j in self.store.queued()],
            "marks": dict(self._marks),
            "subject": self.subject(),
            "disk": {"free_bytes": usage.free, "total_bytes": usage.total, "low": usage.free < 1e9},
            "cpu_temperature_c": cpu_temperature(),
            "uptime_s": round(time.time() - self.started, 1),
        }

    def rail_status(self) -> dict[str, Any]:
        if self.devices is None:
            return {"available": False, "error": self.hardware_error}
        status = dict(self.devices.rail.status())
        status["available"] = True
        status["busy"] = self.runner.rail_lock.locked()
        status["manual_error"] = self._manual_error
        status["soft_limits_mm"] = [self.config.rail.soft_min_mm, self.config.rail.soft_max_mm]
        return status

    def _camera_status(self) -> dict[str, Any]:
        if self.devices is None:
            return {"available": False, "error": self.hardware_error}
        try:
            return {"available": True, **self.devices.camera.status()}
        except HardwareError as exc:
            return {"available": False, "error": str(exc)}

    def _light_status(self) -> dict[str, Any]:
        if self.devices is None:
            return {"available": False}
        light = self.devices.light
        return {"available": True, "on": light.is_lit, "level": light.level}

    # -- manual rail control ---------------------------------------------------------
    def _require_devices(self) -> Devices:
        if self.devices is None:
            raise HardwareUnavailable(f"the rig's hardware is not available: {self.hardware_error}")
        return self.devices

    def _manual_move(self, what: str, action: Any, *, jog_to: float | None = None) -> None:
        """Run a move on the manual worker, holding the rail lock; refuse if busy.

        Jogs (``jog_to``: where the jog ends) queue behind jogs — tapping +0.01 five
        times is five steps — and the rail lock is held until the last has ended, so a
        stack cannot start between them; anything else is refused while a move runs."""
        devices = self._require_devices()
        with self._manual_state:
            if self._manual_pending == 0:
                if not self.runner.rail_lock.acquire(blocking=False):
                    current = self.runner.current
                    if current is not None:
                        raise RigBusy(f"a stack is running (job {current.id}); cancel it or wait")
                    raise RigBusy("the rail is busy; wait for it or press stop")
                self._manual_error = None
                self._manual_jogs_only = jog_to is not None
            elif jog_to is None or not self._manual_jogs_only:
                raise RigBusy("the rail is already moving; wait for it or press stop")
            elif self._manual_pending >= MAX_QUEUED_JOGS:
                raise RigBusy(
                    f"{self._manual_pending} jogs are already waiting; wait for them or press stop"
                )
            self._manual_pending += 1
            self._jog_target = jog_to
            generation = self._manual_generation
        self.bus.publish("rail", action=what, state="moving")

        def work() -> None:
            try:
                if generation == self._manual_generation:  # not dropped by a stop
                    action(devices.rail)
            except (RailError, ValueError) as exc:
                self._manual_error = str(exc)
                self._drop_queued_jogs()  # they were meant to follow this one
                log.warning("%s failed: %s", what, exc)
            except Exception as exc:  # the worker must keep working for the next request
                self._manual_error = f"internal error: {exc}"
                self._drop_queued_jogs()
                log.exception("%s failed", what)
            finally:
                with self._manual_state:
                    self._manual_pending -= 1
                    last = self._manual_pending == 0
                    if last:
                        self.runner.rail_lock.release()
                self.bus.publish(
                    "rail",
                    action=what,
                    state="stopped" if last else "moving",
                    error=self._manual_error,
                    position_mm=devices.rail.position_mm,
                    known=devices.rail.known,
                )

        self._manual.submit(work)

    def _drop_queued_jogs(self) -> None:
        with self._manual_state:
            self._manual_generation += 1

    def move_to(self, mm: float) -> None:
        lo, hi = self.config.rail.soft_min_mm, self.config.rail.soft_max_mm
        if not lo <= mm <= hi:
            raise InvalidValue(f"{mm:g} mm is outside the rail's soft limits ({lo:g}–{hi:g} mm)")
        rail = self._require_devices().rail
        if not rail.known:
            raise RigBusy("the rail position is unknown: home the rail first")
        self._manual_move(f"move to {mm:g} mm", lambda r: r.move_to(mm))

    def jog(self, mm: float) -> None:
        """Move by ``mm``; while earlier jogs run, this one waits its turn."""
        travel = self.config.rail.travel_mm
        if abs(mm) > travel:
            raise InvalidValue(f"a jog of {mm:+g} mm is longer than the rail ({travel:g} mm)")
        rail = self._require_devices().rail
        lo, hi = self.config.rail.soft_min_mm, self.config.rail.soft_max_mm
        with self._manual_state:
            queued = self._manual_pending > 0 and self._manual_jogs_only
            start = self._jog_target if queued and self._jog_target is not None else None
        target = (rail.position_mm if start is None else start) + mm
        if rail.known and not lo <= target <= hi:
            raise InvalidValue(
                f"jogging {mm:+g} mm would go to {target:.3f} mm, outside the soft limits "
                f"({lo:g}–{hi:g} mm)"
            )
        self._manual_move(f"jog {mm:+g} mm", lambda r: r.move_by(mm), jog_to=target)

    def home(self) -> None:
        self._manual_move("home", lambda r: r.home())

    def stop_rail(self) -> None:
        """Decelerate whatever moves the rail now (a manual move; a stack is cancelled
        through its job instead, so the frames stay consistent)."""
        devices = self._require_devices()
        if self.runner.current is None:
            self._drop_queued_jogs()
            devices.rail.stop()

    def subject(self) -> dict[str, Any] | None:
        """Where the subject is in focus, for a new user's "go to subject": the range the
        simulated scene is sharp in, else the start and end last marked around it on the
        rail (a real camera cannot say), else ``None``."""
        camera_range = self.devices.camera.subject_range_mm() if self.devices else None
        if camera_range is not None:
            (near, far), source = camera_range, "simulated scene"
        elif "start" in self._marks and "end" in self._marks:
            (near, far), source = sorted((self._marks["start"], self._marks["end"])), "marks"
        else:
            return None
        return {"range_mm": [near, far], "focus_mm": round((near + far) / 2, 4), "source": source}

    def go_to_subject(self) -> float:
        """Move to the middle of :meth:`subject`; returns that position (mm)."""
        subject = self.subject()
        if subject is None:
            raise Conflict(
                "no subject position is known yet: jog until it is sharp, then set start and end"
            )
        self.move_to(subject["focus_mm"])
        return float(subject["focus_mm"])

    def set_mark(self, which: str) -> float:
        rail = self._require_devices().rail
        if not rail.known:
            raise RigBusy("the rail position is unknown: home the rail first")
        self._marks[which] = round(rail.position_mm, 4)
        write_atomic(self.layout.marks, json.dumps(self._marks).encode())
        self.bus.publish("marks", **self._marks)
        return self._marks[which]

    def _load_marks(self) -> dict[str, float]:
        try:
            data = json.loads(self.layout.marks.read_text())
            return {k: float(v) for k, v in data.items() if k in ("start", "end")}
        except (OSError, ValueError, AttributeError):
            return {}

    # -- camera and light ------------------------------------------------------------
    def preview_jpeg(self) -> bytes | None:
        return self._require_devices().camera.preview_jpeg()

    def snapshot(self) -> Any:
        """A full-resolution frame now (refused during a stack)."""
        devices = self._require_devices()
        if self.runner.current is not None:
            raise RigBusy("a stack is running: the camera is taking its frames")
        return devices.camera.capture()

    def exposure(
        self,
        mode: str,
        exposure_us: int | None = None,
        gain: float | None = None,
        colour_gains: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """Set the exposure: ``auto``, ``lock`` (freeze the settled automatic values) or
        fixed values; returns it as ``status()["camera"]["exposure"]`` shows it."""
        camera = self._require_devices().camera
        if self.runner.current is not None:
            raise RigBusy("a stack is running with its exposure fixed")
        try:
            if mode == "auto":
                camera.unlock_exposure()
            elif mode == "lock":
                camera.lock_exposure()
            elif exposure_us is None or gain is None:
                raise InvalidRequest("fixed exposure needs exposure_us and gain")
            else:
                current = camera.exposure
                gains = colour_gains or (current.colour_gains if current else (1.0, 1.0))
                camera.set_exposure(exposure_us, gain, gains)
        except CameraError as exc:
            raise HardwareUnavailable(f"camera: {exc}") from exc
        return exposure_state(camera.exposure)

    def set_light(self, level: float) -> None:
        """Light for framing (0 = off); goes off by itself after a while."""
        light = self._require_devices().light
        if self.runner.current is not None:
            raise RigBusy("a stack is running: it switches the light itself")
        self._cancel_light_timer()
        if level <= 0:
            light.off()
            return
        try:
            light.on(level)
        except ValueError as exc:  # a level this light cannot show (no PWM to dim it)
            raise InvalidRequest(f"light: {exc}") from None
        self._light_timer = threading.Timer(LIGHT_AUTO_OFF_S, self._auto_off)
        self._light_timer.daemon = True
        self._light_timer.start()

    def _auto_off(self) -> None:
        if self.devices is not None and self.runner.current is None:
            self.devices.light.off()
            self.bus.publish("light", on=False, reason="switched off after being left on")

    def _cancel_light_timer(self) -> None:
        if self._light_timer is not None:
            self._light_timer.cancel()
            self._light_timer = None

    # -- jobs ------------------------------------------------------------------------
    def submit(self, plan: StackPlan, **options: str | None) -> tuple[JobView, bool]:
        """Queue a stack: (the job, whether it is new — a repeated ``idempotency_key``
        returns the first).  Options: ``idempotency_key``, ``callback_url``."""
        job, created = self.jobs.submit(plan, **options)
        return self.runner.view(job), created

    def submit_preset(self, name: str, **options: str | None) -> tuple[JobView, bool]:
        """:meth:`submit` the plan saved as preset ``name``."""
        job, created = self.jobs.submit_preset(name, **options)
        return self.runner.view(job), created

    def check_plan(self, plan: StackPlan) -> PlanEstimate:
        """What ``plan`` would take here, or :class:`~rig.plan.PlanError`."""
        return self.jobs.preflight(plan)

    def job(self, job_id: str) -> JobView:
        return self.runner.view(self.store.job(job_id))

    def job_list(self, limit: int = 50) -> list[JobView]:
        """The newest jobs first."""
        return [self.runner.view(j) for j in self.store.jobs(limit=limit)]

    def cancel(self, job_id: str) -> JobView:
        return self.runner.view(self.jobs.cancel(job_id))

    def resume(self, job_id: str) -> JobView:
        return self.runner.view(self.jobs.resume(job_id))

    def restack(self, job_id: str, method: str | None = None) -> JobView:
        return self.runner.view(self.jobs.restack(job_id, method))

    def frames(self, job_id: str) -> list[FrameEntry]:
        """The frames saved for a job (a restack's are its source job's)."""
        return self._frame_files(self.store.job(job_id)).entries()

    def frame_file(self, job_id: str, index: int) -> Path:
        files = self._frame_files(self.store.job(job_id))
        for entry in files.entries():
            if entry.index == index:
                path = files.dir / entry.file
                if not path.is_file():
                    raise NotFound(f"frame {index} of job {job_id} is listed but its file is gone")
                return path
        raise NotFound(f"job {job_id} has no frame {index}")

    def result_file(self, job_id: str, name: str) -> Path:
        """One of a job's :data:`~rig.job_files.RESULT_FILES`, once it exists."""
        if name not in RESULT_FILES:
            raise NotFound(f"no file {name!r}: ask for one of {', '.join(RESULT_FILES)}")
        path = JobFiles(self.data_dir, self.store.job(job_id).id).path(name)
        if not path.is_file():
            raise NotFound(f"job {job_id} has no {name} (yet)")
        return path

    def _frame_files(self, job: Job) -> JobFiles:
        frames_of = job.source_job if job.kind == "restack" and job.source_job else job.id
        return JobFiles(self.data_dir, frames_of)

    def delete_job(self, job_id: str) -> None:
        """Delete a finished job with its files — also one whose end a full disk kept out
        of the database: deleting is how space is freed."""
        job = self.runner.effective(self.store.job(job_id))
        if job.active:
            raise Conflict(f"job {job_id} is {job.state}: cancel it first")
        dependants = [
            j.id
            for j in map(self.runner.effective, self.store.jobs(limit=10_000))
            if j.source_job == job_id and j.active
        ]
        if dependants:
            raise Conflict(f"job {job_id}'s frames are being restacked ({', '.join(dependants)})")
        JobFiles(self.data_dir, job_id).delete()
        unsaved_end = self.runner.has_unsaved_end(job_id)
        self.store.delete_job(job_id, ended=unsaved_end)
        self.runner.forget_unsaved(job_id)
        self.runner.save_pending()  # the space just freed lets other ends be written
        self.bus.publish("job_deleted", id=job_id)

    # -- presets and schedules -------------------------------------------------------
    def presets(self) -> list[Preset]:
        return self.store.presets()

    def preset(self, name: str) -> Preset:
        return self.store.preset(name)

    def save_preset(self, name: str, plan: StackPlan) -> Preset:
        problem = name_problem(name)
        if problem is not None:
            raise InvalidValue(problem)
        return self.store.save_preset(name, plan.model_dump(mode="json"))

    def delete_preset(self, name: str) -> None:
        self.store.delete_preset(name)

    def schedules(self) -> list[Schedule]:
        return self.store.schedules()

    def schedule(self, schedule_id: str) -> Schedule:
        return self.store.schedule(schedule_id)

    def create_schedule(self, spec: ScheduleSpec) -> Schedule:
        return self.scheduler.create(spec)

    def enable_schedule(self, schedule_id: str, enabled: bool) -> Schedule:
        """Pause or enable a schedule; enabling clears the error it was paused with."""
        if enabled:
            return self.store.update_schedule(schedule_id, enabled=True, error=None)
        return self.store.update_schedule(schedule_id, enabled=False)

    def delete_schedule(self, schedule_id: str) -> None:
        self.store.delete_schedule(schedule_id)


def cpu_temperature() -> float | None:
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000.0, 1)
    except (OSError, ValueError):
        return None
