"""The streaming contract: frames one at a time, bounded memory, honest reports."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest
from stacking_support import psnr, rendered, stack_frames, truth_for

from rig.sim.render import render_stack
from stacker import StackError, StackOptions, Stream


def test_reference_defaults_to_the_middle_and_frames_before_it_are_fused_later():
    stack = rendered("bench")
    stream = Stream(count=12)
    assert stream.reference == 6
    reports = [stream.add(image) for image in stack.images]
    assert [r.status for r in reports[:6]] == ["deferred"] * 6
    result = stream.finish()
    assert [f.status for f in result.frames] == ["fused"] * 12
    assert result.reference == 6
    assert np.allclose(result.frames[6].warp, np.eye(3))


def test_deferred_frames_reread_from_their_source_give_the_same_result(tmp_frames):
    paths = tmp_frames("bench", 6)
    from stacker import read_frame

    a, b = Stream(count=6), Stream(count=6)
    for p in paths:
        frame = read_frame(p)
        a.add(frame)  # spilled to a temporary file
        b.add(frame, source=p)  # re-read from the caller's file
    ra, rb = a.finish(), b.finish()
    assert np.array_equal(ra.to_uint16(), rb.to_uint16())


def test_a_stream_cut_short_still_stacks_what_arrived():
    """A cancelled capture: 12 frames planned, 5 arrived, the planned reference never
    did — the middle of what arrived becomes the reference."""
    stack = rendered("bench")
    stream = Stream(count=12)
    for image in stack.images[:5]:
        stream.add(image)
    result = stream.finish()
    assert result.reference == 2
    assert [f.status for f in result.frames] == ["fused"] * 5


@pytest.mark.slow
def test_a_frame_that_cannot_be_registered_is_reported_and_skipped():
    stack = rendered("bench")
    intruder = rendered("planes", seed=9).images[0]
    frames = [*stack.images[:8], intruder, *stack.images[8:]]
    stream = Stream(count=len(frames), reference=6)
    for image in frames:
        stream.add(image)
    result = stream.finish()
    assert result.frames[8].status == "skipped"
    assert "too different" in (result.frames[8].reason or "")
    assert sum(f.status == "fused" for f in result.frames) == 12
    clean = stack_frames(stack)
    # The intruder changed nothing: same quality as the clean stack.
    assert psnr(result.to_uint8(), truth_for(stack, result)) == pytest.approx(
        psnr(clean.to_uint8(), truth_for(stack, clean)), abs=0.05
    )


def test_frames_of_another_size_are_refused_with_a_clear_message():
    stack = rendered("bench")
    stream = Stream(count=3)
    stream.add(stack.images[0])
    with pytest.raises(StackError, match=r"frame 1 is 240×180, the first frame is 480×360"):
        stream.add(np.ascontiguousarray(stack.images[1][::2, ::2]))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64, 4), np.uint8),
    ],
)
def test_bad_frames_are_refused(bad):
    with pytest.raises(StackError):
        Stream(count=2).add(bad)


def test_one_frame_is_not_a_stack():
    stream = Stream(count=1, reference="first")
    stream.add(rendered("bench").images[0])
    with pytest.raises(StackError, match="at least two"):
        stream.finish()


def test_unknown_reference_or_method_is_refused():
    with pytest.raises(StackError, match="needs the frame count"):
        Stream(reference="middle")
    with pytest.raises(StackError, match="outside the stack"):
        Stream(count=5, reference=7)
    with pytest.raises(StackError, match="unknown method"):
        Stream(count=5, options=StackOptions(method="magic"))  # type: ignore[arg-type]


def test_preview_grows_with_the_stack():
    stack = rendered("bench")
    stream = Stream(count=12, reference="first")
    assert stream.preview() is None
    stream.add(stack.images[0])
    assert stream.preview() is None  # the first frame waits for one to register to it
    stream.add(stack.images[1])
    first = stream.preview(max_width=200)
    for image in stack.images[2:]:
        stream.add(image)
    last = stream.preview(max_width=200)
    assert first is not None and last is not None
    assert first.shape[1] <= 200 and first.dtype == np.uint8
    # Later frames bring the far parts into focus: the preview changes (the crop shrinks
    # a little as frames of other magnifications come in).
    last = cv2.resize(last, (first.shape[1], first.shape[0]))
    assert np.abs(first.astype(int) - last.astype(int)).mean() > 1.0


def test_16_bit_frames_are_stacked_at_16_bits():
    stack = rendered("bench", 6)
    stream = Stream(count=6)
    for image in stack.images:
        stream.add(image.astype(np.uint16) * 257)
    out = stream.finish().to_uint16()
    assert out.dtype == np.uint16 and out.max() > 255 * 200


def _numpy_peak(count: int) -> int:
    stack = render_stack("bench", count, size=(320, 240), seed=1)
    images = stack.images
    tracemalloc.start()
    try:
        stream = Stream(count=count, options=StackOptions(workers=1))
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for image in images:
            stream.add(image)
        stream.finish()
        return tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_frames():
    """Peak numpy memory of a 40-frame stream is within 10 % of a 10-frame one (frames
    before the reference are spilled to disk, not held)."""
    small, large = _numpy_peak(10), _numpy_peak(40)
    assert large <= 1.10 * small, (small, large)
