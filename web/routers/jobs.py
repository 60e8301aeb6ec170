"""Jobs: the remote trigger, progress, cancel/resume/restack, results."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse

from rig.service import JobView
from web.deps import RigDep
from web.models import JobOut, JobRequest, RestackRequest

router = APIRouter(prefix="/api/jobs", tags=["jobs"])

MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".tif": "image/tiff",
    ".png": "image/png",
    ".json": "application/json",
}


def job_out(job: JobView) -> JobOut:
    base = f"/api/jobs/{job.id}"
    urls = {"self": base, "events": "/api/events", "frames": f"{base}/frames"}
    urls.update({name: f"{base}/{name}" for name in job.results})
    return JobOut(**dict(job), urls=urls)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobOut)
def create_job(
    body: JobRequest,
    rig: RigDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobOut:
    """Queue a stack.  Send an ``Idempotency-Key`` header to make retries safe: the
    same key returns the job it created the first time (200) instead of another."""
    options = {"idempotency_key": idempotency_key, "callback_url": body.callback_url}
    if body.preset is not None:
        job, created = rig.submit_preset(body.preset, **options)
    else:
        assert body.plan is not None  # the model asks for one or the other
        job, created = rig.submit(body.plan, **options)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_out(job)


@router.get("", response_model=list[JobOut])
def list_jobs(rig: RigDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[JobOut]:
    return [job_out(j) for j in rig.job_list(limit)]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, rig: RigDep) -> JobOut:
    return job_out(rig.job(job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, rig: RigDep) -> JobOut:
    """Cancel: a queued job at once, a running one after its current frame (frames kept)."""
    return job_out(rig.cancel(job_id))


@router.post("/{job_id}/resume", response_model=JobOut)
def resume_job(job_id: str, rig: RigDep) -> JobOut:
    """Continue an interrupted, cancelled or failed stack at its next frame."""
    return job_out(rig.resume(job_id))


@router.post("/{job_id}/restack", status_code=status.HTTP_201_CREATED, response_model=JobOut)
def restack_job(job_id: str, rig: RigDep, body: RestackRequest | None = None) -> JobOut:
    """Stack a job's saved frames again (a new job; its results are its own)."""
    return job_out(rig.restack(job_id, method=body.method if body else None))


@router.delete("/{job_id}/files", status_code=status.HTTP_204_NO_CONTENT)
def delete_job(job_id: str, rig: RigDep) -> Response:
    """Delete a finished job with its frames and results."""
    rig.delete_job(job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{job_id}/frames")
def list_frames(job_id: str, rig: RigDep) -> list[dict[str, Any]]:
    return [
        {
            "index": e.index,
            "position": e.position,
            "url": f"/api/jobs/{job_id}/frames/{e.index}",
            "exposure_us": e.exposure_us,
        }
        for e in rig.frames(job_id)
    ]


@router.get("/{job_id}/frames/{index}")
def get_frame(job_id: str, index: int, rig: RigDep) -> FileResponse:
    return FileResponse(rig.frame_file(job_id, index))


@router.get("/{job_id}/{name}")
def get_result(job_id: str, name: str, rig: RigDep) -> FileResponse:
    """result.jpg, result.tif, result.png, depth.png, report.json, and preview.jpg (the
    fused image as it grows during the capture)."""
    path = rig.result_file(job_id, name)
    return FileResponse(
        path, media_type=MEDIA_TYPES[PurePath(name).suffix], headers={"Cache-Control": "no-cache"}
    )
