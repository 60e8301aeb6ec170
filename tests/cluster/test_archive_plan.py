"""A job folder copied away from its rig (to a NAS, a bucket, another computer) is
restacked as its plan said — method, outputs, depth map — from the job.json it carries,
not with the defaults."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import fsspec
import numpy as np
import pytest

from rig.cluster.archive import find_stacks
from rig.job_files import CARD_FILE, MANIFEST_FILE

PLAN = {"start_mm": 10, "end_mm": 12, "count": 2, "method": "depthmap"}
PLAN |= {"outputs": ["png", "tif"], "depth_map": True}


def job_folder(fs: fsspec.AbstractFileSystem, folder: str, card: bytes | None) -> None:
    """A job folder as the rig leaves it: frames, manifest and (unless None) job.json."""
    ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    fs.makedirs(f"{folder}/frames", exist_ok=True)
    lines = []
    for i in range(2):
        fs.pipe_file(f"{folder}/frames/frame_{i:04d}.jpg", jpeg.tobytes())
        lines.append(json.dumps({"index": i, "file": f"frames/frame_{i:04d}.jpg", "position": i}))
    fs.pipe_file(f"{folder}/{MANIFEST_FILE}", ("\n".join(lines) + "\n").encode())
    if card is not None:
        fs.pipe_file(f"{folder}/{CARD_FILE}", card)


@pytest.mark.parametrize("where", ["local", "memory"])
def test_a_job_folder_away_from_its_rig_keeps_its_plan(tmp_path: Path, where: str) -> None:
    if where == "local":
        fs, root = fsspec.filesystem("file"), str(tmp_path / "nas")
    else:
        fs, root = fsspec.filesystem("memory"), f"/archive-{tmp_path.name}"
    job_folder(fs, f"{root}/0001", json.dumps({"id": "0001", "plan": PLAN}).encode())
    url = root if where == "local" else f"memory://{root}"
    (found,) = find_stacks([url])
    assert found.problem is None
    assert found.task.method == "depthmap"
    assert found.task.outputs == ("png", "tif")
    assert found.task.depth_map is True
    assert len(found.task.frames) == 2


@pytest.mark.parametrize("card", [None, b"{not json", b"\xff\xfe", b'{"plan": "fast"}', b"[]"])
def test_without_a_readable_job_json_the_defaults_apply(tmp_path: Path, card: bytes | None) -> None:
    fs = fsspec.filesystem("file")
    job_folder(fs, str(tmp_path / "0001"), card)
    (found,) = find_stacks([str(tmp_path)])
    assert found.problem is None
    assert found.task.outputs == ("jpg",) and found.task.depth_map is False
