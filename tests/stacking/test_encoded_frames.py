"""Frames read from their files: libjpeg-turbo gives OpenCV's pixels, a JPEG is registered
from its reduced luma and decoded in full once, and ``add_files`` registers the next frame
while this one is fused — with the image ``add_file`` gives."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import simplejpeg
from PIL import Image

from stacker import StackOptions, Stream
from stacker import stream as stream_module
from stacker.align import Proxy
from stacker.chain import RegistrationChain
from stacker.encoded import open_frame
from stacker.files import stack_files
from stacker.io import read_frame


def test_the_fast_decode_gives_opencvs_pixels(tmp_frames):
    path = tmp_frames("bench", 2)[0]
    want = cv2.imread(str(path))
    assert np.array_equal(read_frame(path, bgr=True), want)
    assert np.array_equal(read_frame(path), cv2.cvtColor(want, cv2.COLOR_BGR2RGB))


def test_a_truncated_jpeg_decodes_as_far_as_it_goes_as_with_opencv(tmp_frames, tmp_path):
    data = tmp_frames("bench", 2)[0].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    want = cv2.imread(str(cut))
    assert want is not None
    assert np.array_equal(read_frame(cut, bgr=True), want)


def test_a_jpeg_rotated_by_exif_is_shown_upright(tmp_frames, tmp_path):
    """libjpeg does not rotate: such a file goes through OpenCV, which does."""
    src = tmp_frames("bench", 2)[0]
    rotated = tmp_path / "rotated.jpg"
    with Image.open(src) as im:
        exif = im.getexif()
        exif[0x0112] = 6  # rotate 90° clockwise to show
        im.save(rotated, quality=95, exif=exif)
    frame = read_frame(rotated, bgr=True)
    assert frame.shape[:2] == cv2.imread(str(src)).shape[1::-1]
    assert np.array_equal(frame, cv2.imread(str(rotated)))
    opened = open_frame(rotated.read_bytes(), "rotated.jpg", bgr=True)
    assert opened.size == (frame.shape[1], frame.shape[0])


def test_a_jpegs_proxy_is_its_reduced_luma(tmp_frames, tmp_path):
    """Decoded at a quarter of its size in the DCT: the shrunk pixels' grey to a fraction
    of a code value."""
    small = cv2.imread(str(tmp_frames("bench", 2)[0]))
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), cv2.resize(small, (2400, 1800), interpolation=cv2.INTER_CUBIC))
    opened = open_frame(path.read_bytes(), path.name, bgr=True)
    shrunk = Proxy.from_frame(cv2.imread(str(path)), bgr=True)
    assert opened.proxy is not None
    assert opened.proxy.image.shape == shrunk.image.shape == (450, 600)
    assert opened.proxy.full_size == shrunk.full_size == (2400, 1800)
    diff = np.abs(opened.proxy.image - shrunk.image) * 255
    assert diff.mean() < 0.5 and diff.max() < 4
    assert np.array_equal(opened.pixels(), cv2.imread(str(path)))


def test_every_frame_is_decoded_in_full_once(tmp_frames, monkeypatch):
    """Frames before the reference used to be decoded twice: to register, then to fuse."""
    paths = tmp_frames("bench", 7)
    size = cv2.imread(str(paths[0])).shape[:2]
    full = []

    def counting(decode):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            image = decode(*args, **kwargs)
            if image is not None and image.shape == (*size, 3):
                full.append(image.shape)
            return image

        return wrapped

    monkeypatch.setattr(cv2, "imread", counting(cv2.imread))
    monkeypatch.setattr(cv2, "imdecode", counting(cv2.imdecode))
    monkeypatch.setattr(simplejpeg, "decode_jpeg", counting(simplejpeg.decode_jpeg))
    result = stack_files(paths, options=StackOptions(workers=2))
    assert [f.status for f in result.frames] == ["fused"] * 7
    assert len(full) == 7


def _fused(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    return result.fused.to_uint8(bgr=True)


@pytest.mark.parametrize("reference", ["middle", "first", 3])
def test_add_files_makes_the_image_add_file_makes(tmp_frames, reference):
    paths = tmp_frames("stalk", 5)
    one_by_one = Stream(count=5, reference=reference, options=StackOptions(workers=2), bgr=True)
    for path in paths:
        one_by_one.add_file(path)
    ahead = Stream(count=5, reference=reference, options=StackOptions(workers=2), bgr=True)
    reports = list(ahead.add_files(paths))
    assert [r.index for r in reports] == list(range(5))
    a, b = one_by_one.finish(), ahead.finish()
    assert [f.status for f in a.frames] == [f.status for f in b.frames] == ["fused"] * 5
    assert np.array_equal(_fused(a), _fused(b))


def test_the_next_frame_is_registered_while_this_one_is_fused(tmp_frames, monkeypatch):
    paths = tmp_frames("bench", 6)  # reference 3: frames 4 and 5 come after it
    registered = {i: threading.Event() for i in range(6)}
    overlapped: dict[int, bool] = {}
    add, merge = RegistrationChain.add, Stream._merge_frame

    def chain_add(self, index, proxy):  # type: ignore[no-untyped-def]
        step = add(self, index, proxy)
        registered[index].set()
        return step

    def merge_frame(self, placed, handed, reopen):  # type: ignore[no-untyped-def]
        if placed.index == 4:  # frame 5 must be registered meanwhile, or never waits
            overlapped[4] = registered[5].wait(timeout=20)
        return merge(self, placed, handed, reopen)

    monkeypatch.setattr(RegistrationChain, "add", chain_add)
    monkeypatch.setattr(Stream, "_merge_frame", merge_frame)
    result = stack_files(paths, options=StackOptions(workers=2))
    assert overlapped == {4: True}
    assert [f.status for f in result.frames] == ["fused"] * 6


def _fusion_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.name.startswith("fuse")]


def test_an_error_while_fusing_ahead_reaches_the_caller(tmp_frames, monkeypatch):
    paths = tmp_frames("bench", 6)
    before = set(threading.enumerate())
    merge = Stream._merge_frame
    failed_on: list[str] = []

    def failing(self, placed, handed, reopen):  # type: ignore[no-untyped-def]
        if threading.current_thread().name.startswith("fuse"):  # the frames fused ahead
            failed_on.append(threading.current_thread().name)
            raise MemoryError("no room for the tiles")
        return merge(self, placed, handed, reopen)

    monkeypatch.setattr(Stream, "_merge_frame", failing)
    with pytest.raises(MemoryError, match="no room"):
        stack_files(paths, options=StackOptions(workers=2))
    assert failed_on
    assert not _fusion_threads(before)


def test_a_frame_deleted_before_it_is_fused_is_skipped(tmp_frames, monkeypatch):
    """Frames before the reference are read back when it arrives: one gone by then is
    skipped with the reason, the rest are fused."""
    paths = tmp_frames("bench", 7)
    gone: list[Path] = []
    add = RegistrationChain.add

    def chain_add(self, index, proxy):  # type: ignore[no-untyped-def]
        if index == 3:  # the reference: frame 1 disappears just before it is read back
            paths[1].unlink()
            gone.append(paths[1])
        return add(self, index, proxy)

    monkeypatch.setattr(RegistrationChain, "add", chain_add)
    result = stack_files(paths, options=StackOptions(workers=2))
    statuses = [f.status for f in result.frames]
    assert gone and statuses[1] == "skipped" and statuses.count("fused") == 6
    assert "could not be read again" in (result.frames[1].reason or "")


def test_the_fusion_thread_ends_with_the_stream(tmp_frames):
    paths = tmp_frames("bench", 5)
    before = set(threading.enumerate())
    s = Stream(count=5, options=StackOptions(workers=2), bgr=True)
    list(s.add_files(paths))
    assert _fusion_threads(before)
    s.finish()
    assert not _fusion_threads(before)


def test_before_the_reference_the_next_frame_is_read_while_this_one_registers(
    tmp_frames, monkeypatch
):
    """Nothing is fused before the reference arrives: reading frame k alongside the
    registration of frame k−1 keeps the idle core busy."""
    paths = tmp_frames("bench", 6)  # reference 3
    reading = {i: threading.Event() for i in range(6)}
    overlapped: dict[int, bool] = {}
    read, add = stream_module.read_frame_file, RegistrationChain.add

    def read_file(path, **kwargs):  # type: ignore[no-untyped-def]
        reading[paths.index(Path(path))].set()
        return read(path, **kwargs)

    def chain_add(self, index, proxy):  # type: ignore[no-untyped-def]
        if index == 1:  # frame 2 must be on its way meanwhile, or never waits
            overlapped[1] = reading[2].wait(timeout=20)
        return add(self, index, proxy)

    monkeypatch.setattr(stream_module, "read_frame_file", read_file)
    monkeypatch.setattr(RegistrationChain, "add", chain_add)
    result = stack_files(paths, options=StackOptions(workers=2))
    assert overlapped == {1: True}
    assert [f.status for f in result.frames] == ["fused"] * 6


def test_a_frame_deleted_between_registration_and_fusion_is_skipped(tmp_frames, monkeypatch):
    """After the reference a JPEG is read again to be fused (its bytes are not held):
    gone by then, it is skipped with the reason, not the stack."""
    paths = tmp_frames("bench", 7)
    merge = Stream._merge_frame

    def merge_frame(self, placed, handed, reopen):  # type: ignore[no-untyped-def]
        if placed.index == 5:
            paths[5].unlink()
        return merge(self, placed, handed, reopen)

    monkeypatch.setattr(Stream, "_merge_frame", merge_frame)
    result = stack_files(paths, options=StackOptions(workers=2))
    statuses = [f.status for f in result.frames]
    assert statuses[5] == "skipped" and statuses.count("fused") == 6
    assert "could not be read again" in (result.frames[5].reason or "")


def test_with_a_pool_add_file_decodes_a_frame_while_it_registers(tmp_frames, monkeypatch):
    """A live stack's last frame gets every core: its full decode need not wait for its
    registration."""
    from stacker import jpeg

    paths = tmp_frames("bench", 4)  # reference 2
    last = paths[3].read_bytes()
    decoding = threading.Event()
    overlapped: list[bool] = []
    decode, add = jpeg.decode, RegistrationChain.add

    def full_decode(data, **kwargs):  # type: ignore[no-untyped-def]
        if data == last:
            decoding.set()
        return decode(data, **kwargs)

    def chain_add(self, index, proxy):  # type: ignore[no-untyped-def]
        if index == 3:
            overlapped.append(decoding.wait(timeout=20))
        return add(self, index, proxy)

    monkeypatch.setattr(jpeg, "decode", full_decode)
    monkeypatch.setattr(RegistrationChain, "add", chain_add)
    with Stream(count=4, options=StackOptions(workers=2), bgr=True) as s:
        for path in paths:
            s.add_file(path)
        result = s.finish()
    assert overlapped == [True]
    assert [f.status for f in result.frames] == ["fused"] * 4
