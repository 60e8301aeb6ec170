"""Jobs: the remote trigger, progress, cancel/resume/restack, results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import FileResponse

from rig.plan import StackPlan
from rig.service import Rig
from rig.store import Job, NotFound
from web.deps import RigDep
from web.models import JobOut, JobRequest, RestackRequest

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

RESULT_FILES = {
    "result.jpg": "image/jpeg",
    "result.tif": "image/tiff",
    "result.png": "image/png",
    "depth.png": "image/png",
    "preview.jpg": "image/jpeg",
    "report.json": "application/json",
}


def job_out(rig: Rig, job: Job) -> JobOut:
    base = f"/api/jobs/{job.id}"
    urls = {"self": base, "events": "/api/events", "frames": f"{base}/frames"}
    urls.update({name: f"{base}/{name}" for name in job.outputs if name in RESULT_FILES})
    if job.active or "preview.jpg" in _existing(rig, job):
        urls["preview.jpg"] = f"{base}/preview.jpg"
    progress = rig.runner.progress
    return JobOut(
        id=job.id,
        kind=job.kind,
        name=job.name,
        state=job.state,
        created=job.created,
        started=job.started,
        finished=job.finished,
        frames_planned=job.frames_planned,
        frames_done=job.frames_done,
        error=job.error,
        outputs=job.outputs,
        source_job=job.source_job,
        schedule_id=job.schedule_id,
        plan=job.plan,
        urls=urls,
        progress=progress.as_dict() if progress is not None and progress.job_id == job.id else None,
    )


def _existing(rig: Rig, job: Job) -> list[str]:
    files = rig.job_files(job)
    return [n for n in RESULT_FILES if files.path(n).is_file()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobOut)
def create_job(
    body: JobRequest,
    rig: RigDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Queue a stack.  Send an ``Idempotency-Key`` header to make retries safe: the
    same key returns the job it created the first time (200) instead of another."""
    plan = body.plan
    if plan is None:
        assert body.preset is not None
        plan = StackPlan.model_validate(rig.store.preset(body.preset).plan)
    job, created = rig.submit(plan, idempotency_key=idempotency_key, callback_url=body.callback_url)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_out(rig, job)


@router.get("", response_model=list[JobOut])
def list_jobs(rig: RigDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[JobOut]:
    return [job_out(rig, j) for j in rig.store.jobs(limit=limit)]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, rig: RigDep) -> JobOut:
    return job_out(rig, rig.store.job(job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, rig: RigDep) -> JobOut:
    """Cancel: a queued job at once, a running one after its current frame (frames kept)."""
    return job_out(rig, rig.runner.cancel(job_id))


@router.post("/{job_id}/resume", response_model=JobOut)
def resume_job(job_id: str, rig: RigDep) -> JobOut:
    """Continue an interrupted, cancelled or failed stack at its next frame."""
    return job_out(rig, rig.runner.resume(job_id))


@router.post("/{job_id}/restack", status_code=status.HTTP_201_CREATED, response_model=JobOut)
def restack_job(job_id: str, rig: RigDep, body: RestackRequest | None = None) -> JobOut:
    """Stack a job's saved frames again (a new job; its results are its own)."""
    return job_out(rig, rig.runner.restack(job_id, method=body.method if body else None))


@router.delete("/{job_id}/files", status_code=status.HTTP_204_NO_CONTENT)
def delete_job(job_id: str, rig: RigDep) -> Response:
    """Delete a finished job with its frames and results."""
    rig.delete_job(job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{job_id}/frames")
def list_frames(job_id: str, rig: RigDep) -> list[dict[str, Any]]:
    job = rig.store.job(job_id)
    files = rig.frame_files(job)
    return [
        {
            "index": e.index,
            "position": e.position,
            "url": f"/api/jobs/{job_id}/frames/{e.index}",
            "exposure_us": e.exposure_us,
        }
        for e in files.entries()
    ]


@router.get("/{job_id}/frames/{index}")
def get_frame(job_id: str, index: int, rig: RigDep) -> FileResponse:
    job = rig.store.job(job_id)
    files = rig.frame_files(job)
    for entry in files.entries():
        if entry.index == index:
            return FileResponse(files.dir / entry.file)
    raise NotFound(f"job {job_id} has no frame {index}")


@router.get("/{job_id}/{name}")
def get_result(job_id: str, name: str, rig: RigDep, request: Request) -> FileResponse:
    """result.jpg, result.tif, result.png, depth.png, report.json, and preview.jpg (the
    fused image as it grows during the capture)."""
    if name not in RESULT_FILES:
        raise NotFound(f"no file {name!r}: ask for one of {', '.join(RESULT_FILES)}")
    job = rig.store.job(job_id)
    path = rig.job_files(job).path(name)
    if not path.is_file():
        raise NotFound(f"job {job_id} has no {name} (yet)")
    return FileResponse(path, media_type=RESULT_FILES[name], headers={"Cache-Control": "no-cache"})
