"""The job as clients see it — the HTTP API's job resource, job events, status and
callbacks all send this one model: the stored fields (:class:`~rig.store.JobRecord`,
listed there once) plus what follows from them.

It carries the state rules (``final``, ``resumable``, ``restackable``) already
applied, so a client decides nothing from the state's name.
"""

from __future__ import annotations

from typing import Any

from rig.job_files import PREVIEW_FILE, RESULT_FILES, JobFiles
from rig.jobs.progress import Progress
from rig.plan import MIN_FRAMES
from rig.store import Job, JobRecord


class JobView(JobRecord):
    final: bool  # it will not change by itself any more
    resumable: bool  # POST …/resume continues it
    restackable: bool  # POST …/restack fuses its frames again
    results: list[str]  # files there now (preview.jpg: once the first frames are fused)
    progress: dict[str, Any] | None = None  # while it is the job the runner is on

    @classmethod
    def of(cls, job: Job, files: JobFiles, progress: Progress | None = None) -> JobView:
        """``files``: the job's own folder; ``progress``: the runner's, if any."""
        results = [name for name in job.outputs if name in RESULT_FILES]
        if PREVIEW_FILE not in results and files.path(PREVIEW_FILE).is_file():
            results.append(PREVIEW_FILE)
        return cls(
            **{name: getattr(job, name) for name in JobRecord.model_fields},
            final=job.state.final,
            resumable=job.state.resumable,
            restackable=job.state.final and job.frames_done >= MIN_FRAMES,
            results=results,
            progress=progress.as_dict() if progress and progress.job_id == job.id else None,
        )

    def as_event(self) -> dict[str, Any]:
        """Plain JSON-able data, for events and callbacks."""
        return self.model_dump(mode="json")
