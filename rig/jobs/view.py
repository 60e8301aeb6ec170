"""The job as clients see it — the HTTP API's job resource, job events, status and
callbacks all send this one model, so a job's fields are listed here and nowhere else.

It carries the state rules (``final``, ``resumable``, ``restackable``) already
applied, so a client decides nothing from the state's name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from rig.job_files import PREVIEW_FILE, RESULT_FILES, JobFiles
from rig.jobs.progress import Progress
from rig.jobs.state import JobState
from rig.store import Job, JobKind


class JobView(BaseModel):
    id: str
    kind: JobKind
    name: str
    state: JobState
    final: bool  # it will not change by itself any more
    resumable: bool  # POST …/resume continues it
    restackable: bool  # POST …/restack fuses its frames again
    created: float
    started: float | None
    finished: float | None
    frames_planned: int
    frames_done: int
    error: str | None
    outputs: list[str]
    results: list[str]  # files to fetch now (preview.jpg grows while the job runs)
    source_job: str | None
    schedule_id: str | None
    plan: dict[str, Any]
    progress: dict[str, Any] | None = None  # while it is the job the runner is on

    @classmethod
    def of(cls, job: Job, files: JobFiles, progress: Progress | None = None) -> JobView:
        """``files``: the job's own folder; ``progress``: the runner's, if any."""
        results = [name for name in job.outputs if name in RESULT_FILES]
        if PREVIEW_FILE not in results and (job.active or files.path(PREVIEW_FILE).is_file()):
            results.append(PREVIEW_FILE)
        fields = {name: getattr(job, name) for name in cls.model_fields if hasattr(job, name)}
        fields["results"] = results
        if progress is not None and progress.job_id == job.id:
            fields["progress"] = progress.as_dict()
        return cls(**fields)

    def as_event(self) -> dict[str, Any]:
        """Plain JSON-able data, for events and callbacks."""
        return self.model_dump(mode="json")
