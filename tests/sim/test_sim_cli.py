"""``macrorig sim render``: files on disk, their colour order, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import rig.cli
from rig.cli import main
from rig.sim.render import render_stack


@pytest.fixture(autouse=True)
def only_the_sim_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real dispatcher, but without importing other subcommands' modules."""
    monkeypatch.setattr(rig.cli, "SUBCOMMANDS", ("sim",))


def test_render_writes_frames_truth_and_a_description(tmp_path: Path) -> None:
    outdir = tmp_path / "stack"
    args = ["sim", "render", str(outdir), "--scene", "highlights", "--count", "3"]
    assert main([*args, "--size", "96x72", "--seed", "4", "--format", "png"]) == 0

    expected = render_stack("highlights", 3, size=(96, 72), seed=4)
    for index, frame in enumerate(expected.frames):
        written = cv2.imread(str(outdir / f"frame_{index:03d}.png"), cv2.IMREAD_COLOR)
        assert np.array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB), frame.image)  # RGB kept
    truth = cv2.imread(str(outdir / "truth.png"), cv2.IMREAD_COLOR)
    assert np.array_equal(cv2.cvtColor(truth, cv2.COLOR_BGR2RGB), expected.truth())
    depth = cv2.imread(str(outdir / "truth_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    assert np.allclose(depth / 1000.0, expected.truth_depth(), atol=6e-4)

    description = json.loads((outdir / "stack.json").read_text())
    assert description["scene"] == "highlights" and description["seed"] == 4
    assert description["reference_index"] == 1
    assert [f["file"] for f in description["frames"]] == [f"frame_{i:03d}.png" for i in range(3)]
    assert np.allclose([f["focus_mm"] for f in description["frames"]], expected.focus_mm)
    assert np.allclose([f["transform"] for f in description["frames"]], expected.transforms)
    assert np.allclose([f["gain"] for f in description["frames"]], expected.gains)


def test_render_defaults_to_jpeg_frames(tmp_path: Path) -> None:
    assert main(["sim", "render", str(tmp_path), "--count", "2", "--size", "64x48"]) == 0

    assert sorted(p.name for p in tmp_path.glob("frame_*")) == ["frame_000.jpg", "frame_001.jpg"]
    assert cv2.imread(str(tmp_path / "frame_000.jpg")).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "64by48"], "WIDTHxHEIGHT"),
        (["--size", "8x8"], "at least 16x16"),
        (["--count", "1"], "at least 2"),
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["sim", "render", str(tmp_path), *extra]) == 2

    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error


def test_sim_without_an_action_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim"]) == 2
    assert "choose an action" in capsys.readouterr().err


def test_unwritable_output_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    assert main(["sim", "render", str(blocker / "out"), "--size", "64x48"]) == 2
    assert "cannot write" in capsys.readouterr().err
