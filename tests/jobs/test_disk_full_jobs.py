"""A disk that fills up, the database included: the job must not read ``running``
forever, and cancel, resume and delete must work so the user can free space from the
page.  A frame listed in the manifest whose file was deleted is a 404, not a 500."""

from __future__ import annotations

import contextlib
import errno

import pytest
from api_support import api_client
from rig_support import Watcher

from rig import job_files
from rig.durable import DiskFull
from rig.job_files import JobFiles
from rig.plan import StackPlan
from rig.store import Store


class FullDisk:
    """The fault switch: once ``filled``, frame writes and every database write fail
    with ENOSPC for as long as the job folder that ate the space exists."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hog: JobFiles | None = None
        real_write, real_tx = job_files.write_atomic, Store._tx
        disk = self

        def write(path, data):  # type: ignore[no-untyped-def]
            if disk.full and path.parent.name == "frames":
                raise DiskFull(errno.ENOSPC, f"the disk holding {path.parent} is full")
            return real_write(path, data)

        @contextlib.contextmanager
        def tx(store):  # type: ignore[no-untyped-def]
            if disk.full:
                raise DiskFull(errno.ENOSPC, f"the disk holding {store.path} is full")
            with real_tx(store) as db:
                yield db

        monkeypatch.setattr(job_files, "write_atomic", write)
        monkeypatch.setattr(Store, "_tx", tx)

    @property
    def full(self) -> bool:
        return self.hog is not None and self.hog.dir.exists()


@pytest.fixture
def client(rig):
    with api_client(rig) as c:
        yield c


def _fill_during(rig, disk: FullDisk) -> str:
    """Start a stack; the disk fills after its second frame.  Its id, once it ended."""
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=30, settle_s=0.02))
    watcher.frame(job.id, 2)
    disk.hog = JobFiles(rig.data_dir, job.id)
    watcher.job_state(job.id, "failed")  # the end as announced; the database could not keep it
    assert rig.store.job(job.id).state == "running"  # what the database still says
    return job.id


@pytest.mark.slow
def test_a_job_ended_by_a_full_disk_does_not_read_running(rig, client, monkeypatch):
    disk = FullDisk(monkeypatch)
    job_id = _fill_during(rig, disk)
    shown = client.get(f"/api/jobs/{job_id}").json()
    assert shown["state"] == "failed" and "the disk is full" in shown["error"]
    assert [j["state"] for j in client.get("/api/jobs").json()] == ["failed"]
    # Cancel: it already stopped — an answer, not a 409.
    cancelled = client.delete(f"/api/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "failed"
    # Resume while still full: 507 that says to free space.
    r = client.post(f"/api/jobs/{job_id}/resume")
    assert r.status_code == 507 and "delete old stacks" in r.json()["detail"]


@pytest.mark.slow
def test_deleting_the_job_frees_the_space_and_its_record(rig, client, monkeypatch):
    disk = FullDisk(monkeypatch)
    job_id = _fill_during(rig, disk)
    assert client.delete(f"/api/jobs/{job_id}/files").status_code == 204
    assert not disk.full
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert client.get("/api/jobs").json() == []
    # The rig works again.
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=3, settle_s=0))
    assert watcher.job_state(job.id, "done", "failed")["state"] == "done"


@pytest.mark.slow
def test_a_job_resumes_once_space_was_freed_elsewhere(rig, client, monkeypatch):
    disk = FullDisk(monkeypatch)
    job_id = _fill_during(rig, disk)
    disk.hog = None  # the user deleted something else
    watcher = Watcher(rig)
    mark = watcher.mark()
    r = client.post(f"/api/jobs/{job_id}/resume")
    assert r.status_code == 200 and r.json()["state"] == "queued"
    assert watcher.job_state(job_id, "done", "failed", after=mark)["state"] == "done"


@pytest.mark.slow
def test_a_frame_deleted_from_disk_is_a_404(rig, client):
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=3, settle_s=0))
    watcher.job_state(job.id, "done")
    files = JobFiles(rig.data_dir, job.id)
    (files.dir / files.entries()[1].file).unlink()
    r = client.get(f"/api/jobs/{job.id}/frames/1")
    assert r.status_code == 404 and "its file is gone" in r.json()["detail"]
    assert client.get(f"/api/jobs/{job.id}/frames/0").status_code == 200
