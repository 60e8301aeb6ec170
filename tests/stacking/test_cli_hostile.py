"""``macrorig stack`` given careless or hostile input: a bad middle frame, an output that
names an input, a report into a missing folder, a full disk, its own earlier results in
the input folder, a PNG too large to decode."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

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


def assert_one_line_refusal(code: int, err: str, expected: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err


def test_an_output_naming_an_input_frame_is_refused_and_the_frame_kept(
    tmp_frames, tmp_path, capsys
):
    paths = tmp_frames("bench", 3)
    before = paths[1].read_bytes()
    for flag, target in (("-o", paths[1]), ("--report", paths[1])):
        argv = [*map(str, paths), "-o", str(tmp_path / "out.jpg")]
        argv[argv.index("-o") + 1 if flag == "-o" else len(argv) :] = (
            [str(target)] if flag == "-o" else [flag, str(target)]
        )
        code, _, err = run(capsys, *argv)
        assert_one_line_refusal(code, err, "is one of the input frames")
        assert paths[1].read_bytes() == before
    # The same file by another name (./ and a relative path) is the same frame.
    other_name = tmp_path / "." / paths[2].name
    code, _, err = run(capsys, str(tmp_path), "-o", str(other_name))
    assert_one_line_refusal(code, err, "is one of the input frames")


def test_a_report_into_a_missing_folder_is_refused_before_any_work(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 3)
    out = tmp_path / "out.jpg"
    code, _, err = run(
        capsys, *map(str, paths), "-o", str(out), "--report", str(tmp_path / "nope" / "r.json")
    )
    assert_one_line_refusal(code, err, "does not exist")
    assert not out.exists()  # checked first: the image was not written either


def test_a_full_disk_is_one_line_and_no_partial_file(tmp_frames, tmp_path, capsys, monkeypatch):
    import errno
    import os

    paths = tmp_frames("bench", 3)
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out.jpg"
    try:
        code, _, err = run(capsys, *map(str, paths), "-o", str(out))
    finally:
        monkeypatch.setattr(os, "fsync", real_fsync)
    assert_one_line_refusal(code, err, "the disk is full")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".part"]


@pytest.mark.slow
def test_results_macrorig_wrote_into_the_input_folder_are_left_out(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 4)
    folder = tmp_path
    for name in ("result.jpg", "result.png", "result.tif"):
        code, stdout, err = run(capsys, str(folder), "-o", str(folder / name))
        assert code == 0, err
        assert "from 4 of 4 frames" in stdout  # the earlier results are not frames
    code, stdout, err = run(
        capsys, str(folder), "-o", str(folder / "again.jpg"), "--depthmap", str(folder / "d.png")
    )
    assert code == 0 and "from 4 of 4 frames" in stdout, err
    assert "left out result.jpg" in err and "left out result.tif" in err
    # A frame a camera wrote is a frame, whatever its name.
    assert len(paths) == 4


def test_sim_render_truth_files_are_not_stacked(tmp_path, capsys):
    assert main(["sim", "render", str(tmp_path / "s"), "--count", "3", "--size", "160x120"]) == 0
    capsys.readouterr()
    code, stdout, err = run(capsys, str(tmp_path / "s"), "-o", str(tmp_path / "out.jpg"))
    assert code == 0, err
    assert "from 3 of 3 frames" in stdout
    assert "left out truth.png" in err and "left out truth_depth.png" in err


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header says width×height, with a token IDAT: decoding it would need
    width×height×3 bytes; reading its header needs nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_huge_png_is_refused_from_its_header(tmp_frames, tmp_path, capsys, monkeypatch):
    import tracemalloc

    paths = tmp_frames("bench", 3, fmt="png")
    _png_header(paths[1], 20000, 20000)
    tracemalloc.start()
    try:
        code, _, err = run(capsys, *map(str, paths), "-o", str(tmp_path / "out.jpg"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_one_line_refusal(code, err, "400 megapixels")
    assert peak < 50e6  # nothing near 20000×20000×3 was allocated
    # The limit follows the configuration too.
    monkeypatch.setenv("MACRORIG_MAX_PIXELS", "1000")
    paths = tmp_frames("bench", 3)
    code, _, err = run(capsys, *map(str, paths), "-o", str(tmp_path / "out2.jpg"))
    assert_one_line_refusal(code, err, "MACRORIG_MAX_PIXELS")
