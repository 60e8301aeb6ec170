"""Stacking on a Dask cluster: ``macrorig restack`` over an archive of job folders, a
worker killed mid-task, worker memory as a resource, and a rig handing its stacking to
the cluster (and stacking itself when the cluster is down).

One ``LocalCluster(n_workers=2, processes=True)`` serves the whole module (it takes
seconds to start); each worker has two threads but MEMORY for one small stack, so the
resource — not the thread count — decides how many stacks run on it at once.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import itertools
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from rig_support import Watcher, free_port, running_rig

from rig.cli import main
from rig.cluster.archive import find_stacks
from rig.cluster.dispatch import run_tasks
from rig.cluster.resources import MEMORY, stack_memory
from rig.cluster.task import StackTask, run_stack_task
from rig.job_files import JobFiles
from rig.plan import StackPlan
from rig.sim.render import render_stack

pytestmark = pytest.mark.timeout(600)

SMALL_STACK = stack_memory(320 * 240)  # the floor: 64 MB
WORKER_MEMORY = 1.5 * SMALL_STACK  # room for one small stack at a time

PLANS = {
    "pyramid": StackPlan(start_mm=9.8, end_mm=12.2, count=7, settle_s=0),
    "depthmap": StackPlan(
        start_mm=9.8,
        end_mm=12.2,
        count=6,
        settle_s=0,
        method="depthmap",
        outputs=["tif", "jpg"],
        depth_map=False,
    ),
}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=2,
            resources={MEMORY: WORKER_MEMORY},
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(autouse=True)
def quiet_dask(monkeypatch):
    monkeypatch.setenv("DASK_LOGGING__DISTRIBUTED", "warning")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A rig's data folder with two captured jobs (their plans in its database) and a
    plain folder of frames beside it."""
    root = tmp_path_factory.mktemp("archive")
    jobs = {}
    with running_rig(root) as rig:
        watcher = Watcher(rig)
        for name, plan in PLANS.items():
            job, _ = rig.submit(plan)
            done = watcher.job_state(job.id, "done", "failed", timeout=180)
            assert done["state"] == "done", done["error"]
            jobs[name] = job.id
    loose = root / "loose"
    loose.mkdir()
    for i, image in enumerate(render_stack("dome", 5, size=(320, 240), seed=4).images):
        cv2.imwrite(str(loose / f"IMG_{i:03d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return root, jobs


def copy_of(archive, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root, jobs = archive
    shutil.copytree(root, tmp_path / "archive")
    return tmp_path / "archive", jobs


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix == ".jpg" and ("frames" in p.parts or p.name.startswith("IMG"))
    }


def restack(*args: str) -> int:
    return main(["restack", *args])


@pytest.mark.slow
def test_an_archive_restacks_to_the_same_images_as_macrorig_stack(
    archive, client, tmp_path, capsys
):
    root, jobs = copy_of(archive, tmp_path)
    frames_before = digests(root)
    summary = tmp_path / "summary.csv"

    code = restack(str(root), "--cluster", client.scheduler.address, "--summary", str(summary))

    assert code == 0, capsys.readouterr().err
    for name, job_id in jobs.items():
        plan = PLANS[name]
        files = JobFiles(root / "data", job_id)
        ref = tmp_path / f"ref-{name}"
        ref.mkdir()
        depth = ["--depthmap", str(ref / "depth.png")] if plan.depth_map else []
        for fmt in plan.outputs:
            assert (
                main(
                    [
                        "stack",
                        *map(str, files.frame_paths()),
                        "-o",
                        str(ref / f"result.{fmt}"),
                        "--method",
                        plan.method,
                        *depth,
                    ]
                )
                == 0
            )
        same_image(files.dir, ref, plan.outputs, plan.depth_map)
        record = json.loads((files.dir / "restack.json").read_text())
        assert record["method"] == plan.method
        assert record["frames"] == plan.count
    loose_ref = tmp_path / "ref-loose"
    loose_ref.mkdir()
    assert main(["stack", str(archive[0] / "loose"), "-o", str(loose_ref / "result.jpg")]) == 0
    same_image(root / "loose", loose_ref, ["jpg"], depth_map=False)

    assert digests(root) == frames_before  # no frame touched
    assert not list(root.rglob("*.part"))
    with summary.open() as f:
        rows = {r["job"]: r for r in csv.DictReader(f)}
    assert set(rows) == {*jobs.values(), "loose"}
    for job_id in jobs.values():
        assert rows[job_id]["status"] == "done"
        assert float(rows[job_id]["seconds"]) > 0
        assert float(rows[job_id]["peak_mb"]) > 50  # a worker process's RSS
        assert rows[job_id]["worker"].startswith("tcp://")
    assert rows[jobs["depthmap"]]["method"] == "depthmap"  # from the job's plan
    assert rows[jobs["pyramid"]]["frames"] == "7"
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert not summary.with_suffix(".parquet").exists()
    else:
        assert pq.read_table(summary.with_suffix(".parquet")).num_rows == len(rows)


def same_image(folder: Path, ref: Path, outputs: list[str], depth_map: bool) -> None:
    for fmt in outputs:
        ours, theirs = folder / f"result.{fmt}", ref / f"result.{fmt}"
        if fmt == "tif":
            assert np.array_equal(tifffile.imread(ours), tifffile.imread(theirs))
        else:
            assert ours.read_bytes() == theirs.read_bytes(), ours
    if depth_map:
        a = cv2.imread(str(folder / "depth.png"), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(ref / "depth.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_a_second_run_skips_what_is_done_and_force_stacks_again(archive, client, tmp_path, capsys):
    root, _ = copy_of(archive, tmp_path)
    summary = tmp_path / "s.csv"
    address = client.scheduler.address
    assert restack(str(root / "loose"), "--cluster", address, "--summary", str(summary)) == 0
    first = (root / "loose" / "restack.json").read_text()

    assert restack(str(root / "loose"), "--cluster", address, "--summary", str(summary)) == 0
    with summary.open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["status"] == "skipped"
    assert float(row["seconds"]) > 0  # the earlier run's figures
    assert (root / "loose" / "restack.json").read_text() == first

    # another method is not done yet; --force stacks again
    args = ["--cluster", address, "--summary", str(summary)]
    assert restack(str(root / "loose"), "--method", "depthmap", *args) == 0
    assert json.loads((root / "loose" / "restack.json").read_text())["method"] == "depthmap"
    assert restack(str(root / "loose"), "--method", "depthmap", "--force", *args) == 0
    with summary.open() as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["done"]


def test_a_worker_never_runs_more_stacks_than_its_memory_holds(archive, client, tmp_path):
    root, _ = copy_of(archive, tmp_path)
    for i in range(4):
        shutil.copytree(root / "loose", tmp_path / "many" / f"s{i}")
    client.wait_for_workers(2, timeout=120)
    found = find_stacks([str(tmp_path / "many")], threads=1)

    outcomes = run_tasks(client, [f.task for f in found])

    assert [o.status for o in outcomes] == ["done"] * 4
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for o in outcomes:
        assert o.result is not None
        by_worker.setdefault(o.result.worker, []).append(
            (o.result.started_at, o.result.finished_at)
        )
    for spans in by_worker.values():  # two threads each, but memory for one stack
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end


def test_a_result_never_replaces_a_frame(tmp_path):
    frames = []
    for i, image in enumerate(render_stack("dome", 3, size=(160, 120), seed=1).images):
        path = tmp_path / ("result.jpg" if i == 2 else f"f{i}.jpg")
        cv2.imwrite(str(path), image)
        frames.append(str(path))
    before = (tmp_path / "result.jpg").read_bytes()

    result = run_stack_task(StackTask("clash", tuple(frames), str(tmp_path)))

    assert result.error is not None and "rename it" in result.error
    assert (tmp_path / "result.jpg").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.jpg", "f1.jpg", "result.jpg"]


def test_frames_elsewhere_are_read_and_results_written_through_fsspec(tmp_path):
    import fsspec

    shelf = fsspec.filesystem("memory")
    local = tmp_path / "frames"
    local.mkdir()
    for i, image in enumerate(render_stack("dome", 4, size=(320, 240), seed=2).images):
        path = local / f"f{i}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        shelf.pipe_file(f"/shelf/s1/f{i}.jpg", path.read_bytes())
    try:
        (found,) = find_stacks(["memory://shelf"])
        assert found.task.frames[0].startswith("memory://")

        result = run_stack_task(found.task)

        assert result.error is None
        assert main(["stack", str(local), "-o", str(tmp_path / "ref.jpg")]) == 0
        assert shelf.cat_file("/shelf/s1/result.jpg") == (tmp_path / "ref.jpg").read_bytes()
        assert not shelf.glob("/shelf/s1/.*.part")
        (again,) = find_stacks(["memory://shelf"])
        assert again.done is not None and again.done["frames"] == 4
    finally:
        shelf.rm("/shelf", recursive=True)


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert restack(str(tmp_path / "nowhere"), "--local", "1") == 2
    assert capsys.readouterr().err.strip().endswith("no such folder")
    assert restack(str(tmp_path), "--summary", str(tmp_path / "s.txt")) == 2
    assert "use a .csv name" in capsys.readouterr().err
    assert restack(str(tmp_path), "--cluster", "tcp://127.0.0.1:1") == 2
    err = capsys.readouterr().err.strip()
    assert "no job folders or folders of frames" in err and "\n" not in err


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys):
    plain = tmp_path / "p"
    plain.mkdir()
    for i, image in enumerate(render_stack("dome", 2, size=(160, 120), seed=1).images):
        cv2.imwrite(str(plain / f"f{i}.jpg"), image)
    nobody = f"tcp://127.0.0.1:{free_port()}"
    code = restack(str(plain), "--cluster", nobody, "--summary", str(tmp_path / "s.csv"))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("macrorig restack: error: cannot reach the scheduler")


# -- a worker killed mid-task ---------------------------------------------------------
def open_for_reader(fifo: Path, timeout: float = 120.0) -> int:
    """A write end of ``fifo`` once a reader has opened it (a task blocked reading the
    frame).  Nothing signals that moment, so this looks every 20 ms until it comes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        threading.Event().wait(0.02)


def gone(client, worker: str, timeout: float = 120.0) -> None:
    """Wait until the scheduler has dropped ``worker`` (its connection closed: the
    process is dead and its files are closed)."""
    deadline = time.monotonic() + timeout
    while worker in client.scheduler_info(n_workers=-1)["workers"]:
        assert time.monotonic() < deadline, f"{worker} is still there after {timeout} s"
        threading.Event().wait(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_half_written(
    archive, client, tmp_path
):
    root, jobs = copy_of(archive, tmp_path)
    job = JobFiles(root / "data", jobs["pyramid"])
    frames = job.frame_paths()
    reference = tmp_path / "reference"
    reference.mkdir()
    for p in frames:
        shutil.copy(p, reference / p.name)
    assert main(["stack", str(reference), "-o", str(reference / "result.jpg")]) == 0
    # The last frame becomes a FIFO: a task reading it blocks until the test writes it.
    last = frames[-1]
    last_bytes = last.read_bytes()
    last.unlink()
    os.mkfifo(last)
    (job.dir / "result.jpg").unlink()
    debris = job.dir / ".result.jpg.dead0001.part"  # what a killed earlier write leaves
    debris.write_bytes(b"half a jpeg")
    client.wait_for_workers(2, timeout=120)
    (found,) = [f for f in find_stacks([str(job.dir)]) if f.task.name == job.dir.name]
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.extend(run_tasks(client, [found.task])))
    runner.start()

    fd = open_for_reader(last)  # the first attempt is reading the last frame
    (killed,) = [w for w, keys in client.processing().items() if keys]
    pid = client.run(os.getpid, workers=[killed])[killed]
    os.kill(pid, signal.SIGKILL)
    gone(client, killed)  # so the FIFO's next reader is the second attempt, not the corpse
    os.close(fd)
    fd = open_for_reader(last)  # the second attempt, on another (or a restarted) worker
    os.set_blocking(fd, True)
    os.write(fd, last_bytes)
    os.close(fd)
    runner.join(timeout=180)

    assert not runner.is_alive()
    (done,) = outcome
    assert done.status == "done", done.error
    assert done.result.worker != killed
    assert (job.dir / "result.jpg").read_bytes() == (reference / "result.jpg").read_bytes()
    assert not list(job.dir.rglob("*.part"))
    assert json.loads((job.dir / "restack.json").read_text())["frames"] == len(frames)
    for p in frames[:-1]:
        assert p.read_bytes() == (reference / p.name).read_bytes()


# -- the rig hands its stacking to the cluster ----------------------------------------
def fused_events(watcher: Watcher, job_id: str) -> list[dict]:
    return [e.data for e in watcher.events if e.type == "fused" and e.data["job_id"] == job_id]


@pytest.mark.slow
def test_a_rig_with_a_cluster_hands_its_stack_off_and_gets_the_result(client, tmp_path):
    address = client.scheduler.address
    client.wait_for_workers(2, timeout=120)
    data = tmp_path / "data"
    extra = f'\n[stacking]\ncluster = "{address}"\ndata_url = "file://{data}"\n'
    with running_rig(tmp_path, extra) as rig:
        watcher = Watcher(rig)
        job, _ = rig.submit(StackPlan(start_mm=9.8, end_mm=12.2, count=7, settle_s=0))
        stacking = watcher.job_state(job.id, "stacking", timeout=180)
        done = watcher.job_state(job.id, "done", "failed", timeout=180)

        assert done["state"] == "done", done["error"]
        assert stacking["progress"]["stacked_on"] == address
        fused = fused_events(watcher, job.id)
        assert fused and fused[-1]["fused"] == 7
        assert {e["stacked_on"] for e in fused} == {address}
        files = JobFiles(rig.data_dir, job.id)
        report = json.loads(files.path("report.json").read_text())
        assert report["stacked_on"] in client.scheduler_info(n_workers=-1)["workers"]
        assert set(done["outputs"]) == {"result.jpg", "depth.png", "report.json"}
        result = cv2.imread(str(files.path("result.jpg")))
        assert result is not None and result.shape[0] > 200
        assert not list(files.dir.glob("restack.json"))


@pytest.mark.slow
def test_with_the_cluster_down_the_rig_stacks_itself_and_says_so(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    extra = f'\n[stacking]\ncluster = "{address}"\nconnect_timeout_s = 1.0\n'
    with running_rig(tmp_path, extra) as rig:
        watcher = Watcher(rig)
        job, _ = rig.submit(StackPlan(start_mm=9.8, end_mm=12.2, count=7, settle_s=0))
        done = watcher.job_state(job.id, "done", "failed", timeout=180)

        assert done["state"] == "done", done["error"]
        fused = fused_events(watcher, job.id)
        assert fused and fused[-1]["fused"] == 7
        where = fused[-1]["stacked_on"]
        assert where.startswith(f"here (the cluster {address} cannot be reached")
        files = JobFiles(rig.data_dir, job.id)
        assert "stacked_on" not in json.loads(files.path("report.json").read_text())
        assert [e.index for e in files.entries()] == list(range(7))
        assert cv2.imread(str(files.path("result.jpg"))) is not None


@pytest.mark.slow
def test_cancelling_a_handed_off_stack_stops_waiting_and_keeps_the_frames(
    archive, client, tmp_path
):
    from rig.cluster.handoff import ClusterStacker
    from rig.config import StackingConfig
    from rig.jobs.stacking import StackAborted, Ticket

    root, jobs = copy_of(archive, tmp_path)
    job = JobFiles(root / "data", jobs["pyramid"])
    frames = job.frame_paths()
    last = frames[-1]
    last_bytes = last.read_bytes()
    last.unlink()
    os.mkfifo(last)  # the task blocks reading it
    client.wait_for_workers(2, timeout=120)
    settings = StackingConfig(cluster=client.scheduler.address)
    stacker = ClusterStacker(settings, root / "data", PLANS["pyramid"], len(frames), job)
    for i, path in enumerate(frames):
        stacker.submit(Ticket(i, path, None))
    ended: list[BaseException] = []

    def finish() -> None:
        try:
            stacker.finish()
        except BaseException as exc:
            ended.append(exc)

    waiting = threading.Thread(target=finish)
    waiting.start()
    fd = open_for_reader(last)  # the task is on the cluster, reading the last frame
    stacker.request_abort()
    waiting.join(timeout=60)
    os.set_blocking(fd, True)
    os.write(fd, last_bytes)  # let the worker go
    os.close(fd)

    assert not waiting.is_alive()
    assert len(ended) == 1 and isinstance(ended[0], StackAborted)
    assert stacker.where == settings.cluster  # it did not fall back to stacking here
    for p in frames[:-1]:
        assert p.is_file()
