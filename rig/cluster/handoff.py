"""A rig that hands its stacking to a Dask cluster (``stacking.cluster`` in the config).

The capture runs as always — every frame saved and in the manifest before the next
move — but nothing is fused on the Pi while it runs: once the last frame is saved, the
job's frames go to the cluster as one task (:mod:`rig.cluster.task`), which reads them
where the rig publishes its data folder and writes the results into the job's folder.
Its progress (frame n fused) comes back as Dask events, so the job looks as if it were
stacked here, with ``stacked_on`` naming the scheduler.

When the cluster cannot be reached, has no workers, loses the task or takes longer than
``stacking.timeout_s``, the rig stacks the frames itself (a :class:`StackWorker`), logs
why and shows ``stacked_on = "here (…why…)"``; the frames never left the rig's disk, so
nothing is lost.  Bad frames fail the job as they would here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from rig.config import StackingConfig
from rig.job_files import JobFiles
from rig.jobs.stacking import (
    FindingCallback,
    ProgressCallback,
    StackAborted,
    StackerFactory,
    StackWorker,
    Ticket,
)
from rig.plan import StackPlan
from stacker import StackError

log = logging.getLogger(__name__)

_POLL_S = 0.5  # how often a wait on the cluster looks whether the job was stopped


class ClusterUnusable(Exception):
    """The cluster did not stack the job (the message says why); stack it here."""


class ClusterStacker:
    """A job's :class:`~rig.jobs.stacking.Stacker` that fuses on a Dask cluster."""

    def __init__(
        self,
        settings: StackingConfig,
        data_dir: Path,
        plan: StackPlan,
        count: int,
        files: JobFiles,
        *,
        on_progress: ProgressCallback | None = None,
        on_finding: FindingCallback | None = None,
        frame_paths: list[Path] | None = None,
    ) -> None:
        assert settings.cluster is not None
        self.settings = settings
        self.data_dir = data_dir
        self.plan = plan
        self.files = files
        self._count = count
        self._on_progress = on_progress
        self._on_finding = on_finding  # live findings come only from a local fallback
        self._frame_paths = frame_paths
        self._tickets: dict[int, Path] = {}
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._future: Any = None
        self._local: StackWorker | None = None
        self._where = settings.cluster
        self.fused = 0
        self.seconds_per_frame = 0.0

    # -- the Stacker interface ---------------------------------------------------------
    @property
    def where(self) -> str:
        return self._where

    @property
    def idle(self) -> bool:
        """Always: a frame is only noted (its file is on disk), never held."""
        return True

    def start(self) -> None:
        pass  # nothing runs until the capture is over

    def submit(self, ticket: Ticket) -> None:
        ticket.image = None  # the cluster reads the saved file
        self._tickets[ticket.index] = ticket.path

    def request_abort(self) -> None:
        self._abort.set()
        with self._lock:
            future, local = self._future, self._local
        if future is not None:
            future.cancel()
        if local is not None:
            local.request_abort()

    def abort(self) -> None:
        self.request_abort()
        with self._lock:
            local = self._local
        if local is not None:
            local.abort()

    @property
    def health(self) -> dict[str, Any] | None:
        """The stack health check's summary once finished: from the local fallback, or
        from the report the cluster's task wrote beside the frames."""
        if self._local is not None:
            return self._local.health
        try:
            report = json.loads((self.files.dir / "report.json").read_text())
        except (OSError, ValueError):
            return None
        health = report.get("health") if isinstance(report, dict) else None
        return health if isinstance(health, dict) else None

    def finish(self, timeout: float | None = None) -> list[str]:
        """Stack on the cluster, or here if it cannot: the result files' names."""
        if self._abort.is_set():
            raise StackAborted("stacking was stopped")
        try:
            return self._on_cluster()
        except ClusterUnusable as exc:
            reason = str(exc)
        if self._abort.is_set():
            raise StackAborted("stacking was stopped")
        log.warning(
            "job %s is stacked here: the cluster %s %s",
            self.files.dir.name,
            self.settings.cluster,
            reason,
        )
        self._where = f"here (the cluster {self.settings.cluster} {reason})"
        return self._here(timeout)

    # -- on the cluster ----------------------------------------------------------------
    def _on_cluster(self) -> list[str]:
        from rig.cluster.dispatch import ClusterError, require_distributed

        try:
            require_distributed()
        except ClusterError as exc:
            raise ClusterUnusable(f"cannot be used: {exc}") from None
        from distributed import Client

        address = self.settings.cluster
        try:
            # Not the process's default client: the daemon's other code never sees it.
            client = Client(address, timeout=self.settings.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterUnusable(f"cannot be reached ({exc})") from None
        try:
            return self._run_on(client)
        finally:
            with contextlib.suppress(Exception):
                client.close()

    def _run_on(self, client: Any) -> list[str]:
        from rig.cluster.dispatch import (
            ClusterError,
            describe_failure,
            submit_stack,
            task_resources,
        )

        try:
            client.wait_for_workers(1, timeout=self.settings.connect_timeout_s)
        except TimeoutError:
            raise ClusterUnusable("has no workers") from None
        task = self._task()
        assert task.progress_topic is not None
        client.subscribe_topic(task.progress_topic, self._on_event)
        try:
            resources = task_resources(client, task)
        except ClusterError as exc:
            raise ClusterUnusable(f"cannot take it: {exc}") from None
        with self._lock:
            self._future = submit_stack(client, task, resources)
        deadline = time.monotonic() + self.settings.timeout_s
        while True:
            if self._abort.is_set():
                self._future.cancel()
                raise StackAborted("stacking was stopped")
            try:
                result = self._future.result(timeout=_POLL_S)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    self._future.cancel()
                    raise ClusterUnusable(
                        f"did not finish within {self.settings.timeout_s:g} s"
                    ) from None
            except Exception as exc:  # the worker died every time, the scheduler went…
                if self._abort.is_set():
                    raise StackAborted("stacking was stopped") from None
                raise ClusterUnusable(f"failed: {describe_failure(exc)}") from None
        # Events come in order but may trail the result: stop listening, then say the
        # last word ourselves.
        client.unsubscribe_topic(task.progress_topic)
        if result.error is not None:  # bad frames: stacking here would fail the same way
            raise StackError(result.error)
        self.fused = len(task.frames)
        if self._on_progress:
            self._on_progress(self.fused, self.seconds_per_frame)
        log.info(
            "job %s stacked on %s (%s) in %.1f s",
            self.files.dir.name,
            self.settings.cluster,
            result.worker,
            result.seconds,
        )
        return list(result.outputs)

    def _task(self) -> Any:
        from rig.cluster.resources import frame_pixels
        from rig.cluster.task import StackTask

        paths = [self._tickets[i] for i in sorted(self._tickets)]
        return StackTask(
            name=self.files.dir.name,
            frames=tuple(self._publish(p) for p in paths),
            out_dir=self._publish(self.files.dir),
            method=self.plan.method,
            outputs=tuple(self.plan.outputs),
            depth_map=self.plan.depth_map,
            pixels=frame_pixels(paths[0]) if paths else 0,
            progress_topic=f"macrorig-{self.files.dir.name}-{secrets.token_hex(4)}",
            marker=False,
        )

    def _publish(self, path: Path) -> str:
        """Where the workers find ``path`` of this rig's data folder."""
        if self.settings.data_url is None:
            return str(path)
        relative = path.relative_to(self.data_dir).as_posix()
        return f"{self.settings.data_url.rstrip('/')}/{relative}"

    def _on_event(self, event: Any) -> None:
        """A progress event from the task (on the Dask client's thread)."""
        _, message = event
        self.fused = int(message["fused"])
        self.seconds_per_frame = float(message["seconds_per_frame"])
        if self._on_progress:
            self._on_progress(self.fused, self.seconds_per_frame)

    # -- here, after all ---------------------------------------------------------------
    def _here(self, timeout: float | None) -> list[str]:
        for leftover in self.files.dir.glob(".*.part"):  # a killed worker's half-writes
            leftover.unlink(missing_ok=True)
        paths = self._frame_paths or [self._tickets[i] for i in sorted(self._tickets)]
        local = StackWorker(
            self.plan,
            self._count,
            self.files,
            on_progress=self._on_progress,
            on_finding=self._on_finding,
            frame_paths=paths,
        )
        with self._lock:
            self._local = local
        local.start()
        if self._abort.is_set():
            local.request_abort()
        for index in sorted(self._tickets):
            local.submit(Ticket(index, self._tickets[index], None))
        outputs = local.finish(timeout)
        self.fused, self.seconds_per_frame = local.fused, local.seconds_per_frame
        return outputs


def cluster_stackers(settings: StackingConfig, data_dir: Path) -> StackerFactory:
    """The runner's stacker factory for a rig whose stacking goes to ``settings.cluster``."""
    return functools.partial(ClusterStacker, settings, data_dir)
