"""The faster paths give what the slower ones gave: colour in, 8-bit rows out, OpenCV's
own threads set aside while our tile workers run (and given back)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from stacking_support import rendered

from stacker import StackOptions, Stream
from stacker import stream as stream_module
from stacker.bands import _RGB_TO_YCC, FULL_SCALE, to_fixed_ycc
from stacker.compand import _EXPAND_LUT, compand, expand
from stacker.geometry import Rect
from stacker.result import FusedImage
from stacker.threads import opencv_single_threaded
from stacker.tiles import tile_grid, tile_phases


def _per_row_reference(rgb: np.ndarray, gain: float, bgr: bool) -> tuple[np.ndarray, np.ndarray]:
    """The conversion as it was: one cv2.transform per output (a 1- and a 2-row matrix)."""
    m = _RGB_TO_YCC * (gain * FULL_SCALE / 255.0)
    if bgr:
        m = m[:, ::-1]
    img = rgb.astype(np.int16)
    return cv2.transform(img, m[:1]), cv2.transform(img, m[1:])


@pytest.mark.parametrize(("gain", "bgr"), [(1.0, False), (0.93, True), (1.2345, False)])
def test_colour_conversion_matches_the_per_row_transform(gain, bgr):
    rgb = np.random.default_rng(4).integers(0, 256, (301, 257, 3), dtype=np.uint8)
    luma, chroma = to_fixed_ycc(rgb, gain, bgr)
    want_luma, want_chroma = _per_row_reference(rgb, gain, bgr)
    assert luma.dtype == chroma.dtype == np.int16
    assert luma.shape == rgb.shape[:2] and chroma.shape == (*rgb.shape[:2], 2)
    # The 3×3 path (vectorised) rounds its floats once in a while on the other side of
    # .5: by one fixed-point unit (1/16 of a code value), never more.
    for got, want in ((luma, want_luma), (chroma, want_chroma)):
        diff = np.abs(got.astype(np.int32) - want)
        assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000


def test_expand_is_the_lookup_table_for_every_code():
    codes = np.arange(256, dtype=np.uint8).view(np.int8).reshape(16, 8, 2)
    assert np.array_equal(expand(codes), _EXPAND_LUT[codes.view(np.uint8)])
    assert expand(codes).dtype == np.float32


def _fused_image(bgr: bool) -> FusedImage:
    rng = np.random.default_rng(7)
    h, w = 300, 260
    luma = cv2.GaussianBlur(
        rng.integers(-300, FULL_SCALE + 300, (h, w)).astype(np.int16), (0, 0), 1
    )
    half = cv2.GaussianBlur(
        rng.integers(-1500, 1500, (h // 2, w // 2, 2)).astype(np.int16), (0, 0), 1
    )
    fine = compand(rng.integers(-300, 300, (h, w, 2)).astype(np.int16))
    return FusedImage(luma, half, fine, Rect(3, 5, w - 7, h - 2), bgr)


@pytest.mark.parametrize("bgr", [False, True])
def test_eight_bit_rows_round_the_sixteen_bit_ones_in_either_channel_order(bgr):
    image = _fused_image(bgr)
    via16 = cv2.convertScaleAbs(image.to_uint16(), alpha=1.0 / 257.0)
    direct = image.to_uint8()
    assert direct.shape == via16.shape == image.shape
    assert np.abs(direct.astype(np.int16) - via16).max() <= 1
    swapped = image.to_uint8(bgr=not bgr)
    assert np.array_equal(swapped, direct[..., ::-1])
    assert np.array_equal(image.to_uint8(bgr=bgr), direct)


def test_opencv_runs_single_threaded_only_while_held_and_is_given_back():
    before = cv2.getNumThreads()
    with opencv_single_threaded():
        assert cv2.getNumThreads() == 1
        with opencv_single_threaded():  # a second stream at the same time
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 1  # the first still holds it
    assert cv2.getNumThreads() == before


def test_tile_workers_run_with_opencv_single_threaded_and_the_result_is_unchanged(monkeypatch):
    stack = rendered("bench", count=5)
    seen: list[int] = []
    lock = threading.Lock()
    decompose = stream_module.decompose_tile

    def recording(*args, **kwargs):
        with lock:
            seen.append(cv2.getNumThreads())
        return decompose(*args, **kwargs)

    def fused(workers: int) -> np.ndarray:
        stream = Stream(count=5, options=StackOptions(workers=workers, tile=128))
        for image in stack.images:
            stream.add(image)
        return stream.finish().to_uint16()

    before = cv2.getNumThreads()
    single = fused(1)
    monkeypatch.setattr(stream_module, "decompose_tile", recording)
    pooled = fused(2)
    assert seen and set(seen) == {1}
    assert cv2.getNumThreads() == before
    assert np.array_equal(single, pooled)


@pytest.mark.parametrize(("depth_map", "proxies"), [(False, 6), (True, 9)])
def test_frames_read_back_after_the_reference_get_a_proxy_only_for_the_focus_map(
    tmp_frames, monkeypatch, depth_map, proxies
):
    """Six frames, reference 3: every frame is registered once (six proxies); the three
    before the reference are read back when it comes, and need a proxy again only when
    the focus map (here the depth map) is measured on it."""
    paths = tmp_frames("bench", 6)
    from stacker import read_frame
    from stacker.align import Proxy

    made: list[int] = []
    real = Proxy.from_frame.__func__  # type: ignore[attr-defined]

    def counting(cls, frame, bgr=False):
        made.append(1)
        return real(cls, frame, bgr)

    monkeypatch.setattr(Proxy, "from_frame", classmethod(counting))
    stream = Stream(count=6, options=StackOptions(depth_map=depth_map))
    for p in paths:
        stream.add(read_frame(p), source=p)
    result = stream.finish()
    assert [f.status for f in result.frames] == ["fused"] * 6
    assert len(made) == proxies
    assert (result.depth is not None) == depth_map


@pytest.mark.parametrize(
    ("size", "tile", "margin"),
    [((470, 351), 128, 56), ((4056, 3040), 640, 80), ((1000, 700), 64, 96)],
)
def test_tiles_that_run_together_never_read_what_the_other_writes(size, tile, margin):
    """A tile reads the decision state over its outer area and writes its inner area: in a
    phase no tile's outer area may reach another's inner area, or the result depends on
    which thread got there first (pooled fusion differed from single-threaded in 1 run
    of 6 when all tiles ran at once)."""
    tiles = tile_grid(size, tile, margin, 8)
    phases = tile_phases(tiles, tile, margin)
    assert sorted(i for phase in phases for i in phase) == list(range(len(tiles)))
    for phase in phases:
        for a in phase:
            for b in phase:
                if a != b:
                    outer, inner = tiles[a].outer, tiles[b].inner
                    apart_x = outer.x1 <= inner.x0 or inner.x1 <= outer.x0
                    apart_y = outer.y1 <= inner.y0 or inner.y1 <= outer.y0
                    assert apart_x or apart_y, (a, b)


def test_one_worker_keeps_opencv_on_one_core_for_the_whole_frame(monkeypatch):
    """A live stack fuses with one worker so the camera keeps a core: OpenCV's own
    threads must not spread registration or warps over that core either."""
    stack = rendered("bench", count=3)
    seen: dict[str, set[int]] = {"register": set(), "tiles": set()}
    register = stream_module.RegistrationChain.add
    decompose = stream_module.decompose_tile

    def recording_register(self, *args, **kwargs):
        seen["register"].add(cv2.getNumThreads())
        return register(self, *args, **kwargs)

    def recording_decompose(*args, **kwargs):
        seen["tiles"].add(cv2.getNumThreads())
        return decompose(*args, **kwargs)

    monkeypatch.setattr(stream_module.RegistrationChain, "add", recording_register)
    monkeypatch.setattr(stream_module, "decompose_tile", recording_decompose)
    before = cv2.getNumThreads()
    cv2.setNumThreads(4)  # as on a 4-core Pi, whatever this machine has
    try:
        stream = Stream(count=3, options=StackOptions(workers=1, tile=128))
        for image in stack.images:
            stream.add(image)
            assert cv2.getNumThreads() == 4  # given back between frames
        stream.finish()
    finally:
        cv2.setNumThreads(before)
    assert seen == {"register": {1}, "tiles": {1}}
