"""Durable writes: a file is either its old or its new content, even after a crash or
a power cut, and a full disk is reported as :class:`DiskFull`, not as a stray OSError.

Everything the rig must not lose — frames, the rail position, marks, previews — goes
through :func:`write_atomic`: a unique temporary file beside the target, fsync, rename,
then fsync of the folder so the rename itself reaches the disk.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path


class DiskFull(OSError):
    """The data disk filled up; the message says what was kept."""


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``; readers see the old or the new file, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
    except OSError as exc:
        if exc.errno == errno.ENOSPC and not isinstance(exc, DiskFull):
            raise DiskFull(errno.ENOSPC, f"the disk holding {path.parent} is full") from exc
        raise


def write_json_atomic(path: Path, payload: object) -> None:
    write_atomic(path, json.dumps(payload, indent=1).encode())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
