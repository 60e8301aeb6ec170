"""Atomic writes: old or new content, never half; a full disk is DiskFull."""

from __future__ import annotations

import errno
import os

import pytest

from rig import durable
from rig.durable import DiskFull, write_atomic


def test_a_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_full_disk_is_disk_full_and_keeps_the_old_content(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    write_atomic(target, b"old")

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(durable.os, "fsync", no_space)
    with pytest.raises(DiskFull, match="is full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
