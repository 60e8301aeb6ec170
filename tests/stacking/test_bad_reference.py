"""A bad reference frame — black, noise, half decoded, unreadable — must not lose the
stack: the next frame that can be used becomes the reference."""

from __future__ import annotations

import numpy as np
import pytest
from stacking_support import psnr, rendered, stack_frames, truth_for

from stacker import StackError, Stream


def _black(image: np.ndarray) -> np.ndarray:
    return np.zeros_like(image)


def _noise(image: np.ndarray) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, image.shape, dtype=np.uint8)


def _half_decoded(image: np.ndarray) -> np.ndarray:
    """What a decoder makes of a truncated JPEG: the top rows, then flat grey."""
    out = image.copy()
    out[image.shape[0] // 3 :] = 128
    return out


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_black, _noise, _half_decoded])
def test_a_reference_frame_that_cannot_be_registered_hands_over_to_the_next(damage):
    stack = rendered("bench")  # 12 frames: the middle, frame 6, is the reference
    frames = list(stack.images)
    frames[6] = damage(frames[6])
    stream = Stream(count=12)
    for image in frames:
        stream.add(image)
    result = stream.finish()
    assert result.frames[6].status == "skipped" and result.frames[6].reason
    assert result.reference == 7
    assert [f.index for f in result.frames if f.status == "fused"] == [
        i for i in range(12) if i != 6
    ]
    clean = stack_frames(stack)
    got = psnr(result.to_uint8(), truth_for(stack, result))
    assert got > psnr(clean.to_uint8(), truth_for(stack, clean)) - 1.0


def test_an_unreadable_reference_frame_is_skipped_and_reported():
    """The rig's stacker meets a frame whose file is gone: it says so with skip()."""
    stack = rendered("bench")
    stream = Stream(count=12)
    for i, image in enumerate(stack.images):
        if i == 6:
            stream.skip("could not be read: frame_0006.jpg: no such file", name="frame_0006.jpg")
        else:
            stream.add(image)
    result = stream.finish()
    assert result.frames[6].status == "skipped"
    assert "no such file" in (result.frames[6].reason or "")
    assert result.reference == 7 and stream.fused == 11


def test_a_bad_last_frame_as_the_reference_falls_back_to_the_middle():
    stack = rendered("bench", count=6)
    frames = list(stack.images)
    frames[5] = _black(frames[5])
    stream = Stream(count=6, reference="last")
    for image in frames:
        stream.add(image)
    result = stream.finish()
    assert result.frames[5].status == "skipped"
    assert result.reference == 2 and stream.fused == 5


def test_a_deferred_frame_deleted_before_it_is_read_back_is_skipped(tmp_frames):
    paths = tmp_frames("bench", 6)
    from stacker import read_frame

    stream = Stream(count=6)  # reference 3: frames 0–2 are read back from their files
    for i, p in enumerate(paths):
        frame = read_frame(p)
        if i == 3:
            paths[1].unlink()  # gone before the reference comes
        stream.add(frame, source=p)
    result = stream.finish()
    assert result.frames[1].status == "skipped"
    assert "no such file" in (result.frames[1].reason or "")
    assert stream.fused == 5


@pytest.mark.parametrize("reference", ["middle", "first"])
@pytest.mark.parametrize("damage", [_black, _noise, _half_decoded])
def test_a_bad_first_frame_is_dropped_not_the_stack(damage, reference):
    """The first frame has nothing before it to be checked against: the frames after it
    decide, and a bad one is dropped instead of taking every later frame down with it."""
    stack = rendered("bench", count=6)
    frames = list(stack.images)
    frames[0] = damage(frames[0])
    stream = Stream(count=6, reference=reference)
    for image in frames:
        stream.add(image)
    result = stream.finish()
    assert result.frames[0].status == "skipped"
    assert result.frames[0].reason == "does not register with the frames after it"
    assert [f.status for f in result.frames[1:]] == ["fused"] * 5
    assert result.reference == (3 if reference == "middle" else 1)
    assert result.health is not None and result.health.frames[0].skipped
    # The same as a stack of the five good frames alone, with the same reference.
    alone = Stream(count=5, reference=result.reference - 1)
    for image in frames[1:]:
        alone.add(image)
    assert np.array_equal(result.to_uint8(), alone.finish().to_uint8())


def test_a_bad_second_frame_leaves_the_first_as_the_reference():
    stack = rendered("bench", count=5)
    frames = list(stack.images)
    frames[1] = _black(frames[1])
    stream = Stream(count=5, reference="first")
    reports = [stream.add(image) for image in frames]
    assert [r.status for r in reports[:2]] == ["deferred", "deferred"]  # undecided yet
    result = stream.finish()
    assert result.reference == 0
    assert [f.status for f in result.frames] == ["fused", "skipped", "fused", "fused", "fused"]
    assert result.frames[1].reason  # why it did not register


def test_two_bad_frames_first_hand_over_to_the_third():
    stack = rendered("bench", count=6)
    frames = list(stack.images)
    frames[0], frames[1] = _black(frames[0]), _noise(frames[1])
    stream = Stream(count=6, reference="first")
    for image in frames:
        stream.add(image)
    result = stream.finish()
    assert result.reference == 2
    assert [f.status for f in result.frames] == ["skipped"] * 2 + ["fused"] * 4


def test_two_frames_that_disagree_keep_the_first_and_say_so():
    """Nothing comes to decide between them: the stack cannot be made, and the error says
    how many frames could be used."""
    stack = rendered("bench", count=2)
    stream = Stream(count=2, reference="first")
    stream.add(stack.images[0])
    stream.add(_black(stack.images[1]))
    with pytest.raises(StackError, match="at least two frames"):
        stream.finish()
    assert [r.status for r in stream.reports] == ["fused", "skipped"]
