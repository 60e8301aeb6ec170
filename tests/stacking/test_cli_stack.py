"""``macrorig stack``: outputs on success; on bad input exit 2, one line, nothing left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from rig.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["stack", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code: int, err: str, folder: Path, expected: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert expected in lines[0]
    assert "Traceback" not in err
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(("out", ".out"))]
    assert leftovers == []


def test_stacks_a_folder_into_jpeg_depth_map_and_report(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 6)
    code, out, err = run(
        capsys,
        str(tmp_path),
        "-o",
        str(tmp_path / "out.jpg"),
        "--depthmap",
        str(tmp_path / "out-depth.png"),
        "--report",
        str(tmp_path / "out.json"),
    )
    assert code == 0, err
    assert "from 6 of 6 frames" in out
    result = cv2.imread(str(tmp_path / "out.jpg"))
    depth = cv2.imread(str(tmp_path / "out-depth.png"), cv2.IMREAD_UNCHANGED)
    assert result is not None and depth is not None
    assert depth.dtype == np.uint8 and depth.shape == result.shape[:2]
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["reference"] == 3
    assert [f["status"] for f in report["frames"]] == ["fused"] * 6
    assert report["frames"][0]["file"] == str(paths[0])
    assert (report["crop"]["width"], report["crop"]["height"]) == (result.shape[1], result.shape[0])


def test_writes_16_bit_tiff_and_png(tmp_frames, tmp_path, capsys):
    tmp_frames("bench", 4)
    results = tmp_path / "results"
    results.mkdir()
    for name in ("out.tif", "out.png"):
        code, _, err = run(capsys, str(tmp_path), "-o", str(results / name), "--no-align")
        assert code == 0, err
    tif = tifffile.imread(results / "out.tif")
    assert tif.dtype == np.uint16 and tif.ndim == 3 and tif.max() > 255
    png = cv2.imread(str(results / "out.png"))
    assert png is not None and np.abs(png[..., ::-1].astype(int) - (tif >> 8)).max() <= 1


def test_keeps_the_reference_frames_exif(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 4)
    for i, p in enumerate(paths):  # give every frame its own EXIF
        exif = Image.Exif()
        exif[0x010F] = "Raspberry Pi"
        exif[0x0110] = f"frame {i}"
        Image.open(p).save(p, exif=exif, quality=95)
    for name in ("out.jpg", "out.tif"):
        code, _, err = run(capsys, *map(str, paths), "-o", str(tmp_path / name), "--reference", "1")
        assert code == 0, err
    assert Image.open(tmp_path / "out.jpg").getexif()[0x0110] == "frame 1"
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.pages[0].tags["Model"].value == "frame 1"


def test_no_frames(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, str(tmp_path / "empty"), "-o", str(tmp_path / "out.jpg"))
    assert_clean_failure(code, err, tmp_path, "no JPEG, PNG or TIFF files")


def test_one_frame(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 2)
    code, _, err = run(capsys, str(paths[0]), "-o", str(tmp_path / "out.jpg"))
    assert_clean_failure(code, err, tmp_path, "at least two frames")


def test_missing_file(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 2)
    code, _, err = run(
        capsys, str(paths[0]), str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "out.jpg")
    )
    assert_clean_failure(code, err, tmp_path, "nope.jpg: no such file")


def test_unreadable_file_leaves_no_output(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 4)
    paths[2].write_bytes(b"\xff\xd8 this is not really a jpeg")
    code, _, err = run(capsys, *map(str, paths), "-o", str(tmp_path / "out.jpg"))
    assert_clean_failure(code, err, tmp_path, "cannot be decoded")


def test_frames_of_different_sizes(tmp_frames, tmp_path, capsys):
    paths = tmp_frames("bench", 4)
    small = cv2.resize(cv2.imread(str(paths[3])), (240, 180))
    cv2.imwrite(str(paths[3]), small)
    code, _, err = run(capsys, *map(str, paths), "-o", str(tmp_path / "out.jpg"))
    assert_clean_failure(code, err, tmp_path, "all frames must be the same size")


@pytest.mark.parametrize(
    ("output", "expected"),
    [("out.gif", "unknown output type"), ("missing/out.jpg", "does not exist")],
)
def test_bad_output(tmp_frames, tmp_path, capsys, output, expected):
    tmp_frames("bench", 2)
    code, _, err = run(capsys, str(tmp_path), "-o", str(tmp_path / output))
    assert_clean_failure(code, err, tmp_path, expected)


def test_unwritable_output_folder(tmp_frames, tmp_path, capsys):
    tmp_frames("bench", 2)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code, _, err = run(capsys, str(tmp_path), "-o", str(locked / "out.jpg"))
    finally:
        locked.chmod(0o700)
    if code == 0:  # running as root: permissions do not stop us
        assert (locked / "out.jpg").exists()
    else:
        assert_clean_failure(code, err, locked, "not writable")


def test_reference_out_of_range(tmp_frames, tmp_path, capsys):
    tmp_frames("bench", 3)
    code, _, err = run(capsys, str(tmp_path), "-o", str(tmp_path / "out.jpg"), "--reference", "5")
    assert_clean_failure(code, err, tmp_path, "numbered 0 to 2")


def test_depth_map_must_be_png(tmp_frames, tmp_path, capsys):
    tmp_frames("bench", 2)
    code, _, err = run(
        capsys,
        str(tmp_path),
        "-o",
        str(tmp_path / "out.jpg"),
        "--depthmap",
        str(tmp_path / "d.jpg"),
    )
    assert_clean_failure(code, err, tmp_path, "8-bit PNG")


@pytest.mark.slow
def test_real_process_exit_status_and_single_line(tmp_path):
    """Through a real process: argparse errors and ours both exit 2 without a traceback."""
    for argv in (["stack"], ["stack", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.jpg")]):
        proc = subprocess.run(
            [sys.executable, "-m", "rig", *argv], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip()


def test_stack_command_loads_only_what_stacking_needs():
    """On a 512 MB Pi every megabyte of imports counts against the stacker's budget."""
    code = (
        "import sys; from rig.cli import build_parser; build_parser('stack'); "
        "print(sorted(m for m in ('fastapi', 'httpx', 'gpiozero', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
