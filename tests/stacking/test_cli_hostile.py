"""``macrorig stack`` given careless or hostile input: a bad middle frame, an output that
names an input, a report into a missing folder, a full disk, its own earlier results in
the input folder, a PNG too large to decode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rig.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["stack", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_black_middle_frame_is_skipped_not_fatal(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 7)
    middle = paths[3]
    cv2.imwrite(str(middle), np.zeros(cv2.imread(str(middle)).shape, np.uint8))
    out = tmp_path / "out.jpg"
    code, stdout, err = run(capsys, *map(str, paths), "-o", str(out))
    assert code == 0, err
    assert f"skipped {middle.name}" in err and "Traceback" not in err
    assert "from 6 of 7 frames" in stdout and out.is_file()


def test_a_truncated_middle_frame_is_skipped_not_fatal(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 7)
    data = paths[3].read_bytes()
    paths[3].write_bytes(data[: len(data) // 3])
    code, stdout, err = run(capsys, *map(str, paths), "-o", str(tmp_path / "out.jpg"))
    assert code == 0, err
    assert "from 6 of 7 frames" in stdout


def _folder(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path
