"""A live stack leaves a core to the camera while it captures, and takes it back for the
last frame, so the result follows the last frame sooner; the output does not depend on
how many threads fused it."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from stacking_support import rendered

import rig.jobs.stacking as stacking
from rig.job_files import PREVIEW_FILE, JobFiles
from rig.jobs.stacking import StackWorker, Ticket
from rig.plan import StackPlan
from stacker import StackOptions, Stream


@pytest.mark.slow
def test_switching_workers_mid_stack_gives_the_same_image():
    stack = rendered("layers", count=6)
    images = []
    for switch in (False, True):
        with Stream(count=6, options=StackOptions(workers=1, tile=128)) as stream:
            for i, image in enumerate(stack.images):
                if switch and i == 5:
                    stream.use_workers(3)
                stream.add(image)
            images.append(stream.finish().to_uint8())
    assert np.array_equal(images[0], images[1])


def test_the_last_frame_is_fused_with_every_core_and_no_preview_follows_it(
    tmp_path: Path, monkeypatch
):
    stack = rendered("planes", count=4)
    calls: list[tuple[int, int]] = []  # (frames added before the call, workers)
    real = Stream.use_workers

    def record(self: Stream, workers: int) -> None:
        calls.append((len(self.reports), workers))
        real(self, workers)

    monkeypatch.setattr(Stream, "use_workers", record)
    monkeypatch.setattr(stacking, "default_workers", lambda: 3)
    previews: list[int] = []
    real_preview = StackWorker._write_preview
    monkeypatch.setattr(
        StackWorker,
        "_write_preview",
        lambda self, stream: (previews.append(len(stream.reports)), real_preview(self, stream)),
    )
    files = JobFiles(tmp_path, "live")
    files.create()
    done = threading.Semaphore(0)
    plan = StackPlan(start_mm=10.0, end_mm=12.0, count=4, depth_map=False)
    worker = StackWorker(plan, 4, files, on_progress=lambda *_: done.release(), nice=0)
    worker.start()
    for i, image in enumerate(stack.images):
        path = tmp_path / f"frame_{i}.png"  # frames before the reference are re-read
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        worker.submit(Ticket(i, path, image))
        assert done.acquire(timeout=120)
    outputs = worker.finish(timeout=120)
    assert "result.jpg" in outputs
    assert calls[-1] == (3, 3)  # before the last frame (three already in)
    assert all(n < 3 for n, _ in calls[:-1])  # the stream's own set-up
    assert previews and max(previews) == 3  # none after the fourth frame
    assert files.path(PREVIEW_FILE).is_file()


def test_the_depth_map_is_written_while_the_result_image_is(tmp_path: Path, monkeypatch):
    """What a live stack waits for after its last frame: the depth map's encoding runs
    beside the result's, not after it."""
    stack = rendered("planes", count=4)
    depth_started = threading.Event()
    overlapped: list[bool] = []
    real_write = stacking.write_image

    def write(path, image, **kwargs):
        if Path(path).name == "depth.png":
            depth_started.set()
        else:  # the result: only finishes once the depth map is under way
            overlapped.append(depth_started.wait(timeout=30))
        real_write(path, image, **kwargs)

    monkeypatch.setattr(stacking, "write_image", write)
    files = JobFiles(tmp_path, "live")
    files.create()
    plan = StackPlan(start_mm=10.0, end_mm=12.0, count=4, depth_map=True)
    worker = StackWorker(plan, 4, files, nice=0)
    worker.start()
    for i, image in enumerate(stack.images):
        path = tmp_path / f"frame_{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        worker.submit(Ticket(i, path, image))
    outputs = worker.finish(timeout=120)
    assert outputs == ["result.jpg", "depth.png", "report.json"]
    assert overlapped == [True]
    assert cv2.imread(str(files.path("depth.png")), cv2.IMREAD_UNCHANGED).ndim == 2
    assert files.path("report.json").is_file()
