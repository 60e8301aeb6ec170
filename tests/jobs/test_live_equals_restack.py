"""The stacker sees each frame as it was saved: a JPEG is not the pixels it was made
from, and a live stack that took the camera's pixels whenever the stacker happened to be
idle made an image (and a health verdict, which compares each frame with its
neighbours) that depended on how busy the machine was — and that a restack of the very
same frames did not reproduce."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rig_support import Watcher

from rig.job_files import JobFiles
from rig.plan import StackPlan


@pytest.mark.slow
def test_a_live_stack_and_a_restack_of_its_frames_make_the_same_image(rig):
    watcher = Watcher(rig)
    job, _ = rig.submit(StackPlan(start_mm=10, end_mm=12, count=6, settle_s=0))
    done = watcher.job_state(job.id, "done", "failed")
    assert done["state"] == "done", done["error"]
    again = rig.restack(job.id)
    restacked = watcher.job_state(again.id, "done", "failed")
    assert restacked["state"] == "done", restacked["error"]
    live, re = (
        cv2.imread(str(JobFiles(rig.data_dir, j).path("result.jpg"))) for j in (job.id, again.id)
    )
    assert live is not None and re is not None
    assert np.array_equal(live, re)
