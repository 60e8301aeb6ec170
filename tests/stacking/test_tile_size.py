"""The tile size follows the frame: large tiles where every phase still keeps the
machine's cores busy (less margin recomputed), the small default where it would not."""

from __future__ import annotations

import numpy as np
import pytest
from stacking_support import rendered

from stacker import StackOptions, Stream
from stacker import stream as stream_module
from stacker.bands import decompose_tile, gaussian_levels, laplacian_bands, to_fixed_ycc
from stacker.tiles import TILE_SIZES, pick_tile, tile_grid, tile_phases


@pytest.mark.parametrize(
    ("size", "parallel", "want"),
    [
        ((4056, 3040), 2, 1024),  # 12 MP on two cores: phases of 4, 4, 2 and 2 tiles
        ((4056, 3040), 4, 768),  # four cores: 1024 would leave two idle in two phases
        ((1920, 1440), 2, 640),  # 3 MP: no larger tile keeps two cores busy
        ((1920, 1440), 1, 1024),
    ],
)
def test_the_largest_tile_whose_phases_keep_every_core_busy(size, parallel, want):
    assert pick_tile(size, 80, 8, parallel) == want


def test_a_larger_tile_recomputes_less_margin_at_12_mp():
    def overhead(tile: int) -> float:
        tiles = tile_grid((4056, 3040), tile, 80, 8)
        return sum(t.outer.width * t.outer.height for t in tiles) / (4056 * 3040)

    assert overhead(1024) < 0.85 * overhead(640)
    tiles = tile_grid((4056, 3040), 1024, 80, 8)
    assert min(len(p) for p in tile_phases(tiles, 1024, 80)) >= 2


def test_the_tiling_depends_on_the_machine_not_on_the_stream_s_workers(monkeypatch):
    """Pooled fusion must equal single-threaded: both pick the same tile size."""
    monkeypatch.setattr(stream_module, "default_workers", lambda: 1)
    seen: list[int] = []
    real = stream_module.tile_grid

    def recording(size, tile, margin, align):
        seen.append(tile)
        return real(size, tile, margin, align)

    monkeypatch.setattr(stream_module, "tile_grid", recording)
    stack = rendered("bench", count=4)
    results = []
    for workers in (1, 2):
        stream = Stream(count=4, options=StackOptions(workers=workers))
        for image in stack.images:
            stream.add(image)
        results.append(stream.finish().to_uint16())
    assert set(seen) == {TILE_SIZES[0]}  # one core: the largest, whatever the workers
    assert np.array_equal(results[0], results[1])


def test_bands_computed_in_place_equal_the_out_of_place_ones():
    rgb = np.random.default_rng(5).integers(0, 256, (200, 168, 3), dtype=np.uint8)
    luma, chroma = to_fixed_ycc(rgb, 1.0, bgr=False)
    want_luma = laplacian_bands(gaussian_levels(luma.copy(), 3))
    want_chroma = laplacian_bands(gaussian_levels(chroma.copy(), 3))
    bands = decompose_tile(luma, chroma, 1.0)
    for got, want in ((bands.luma, want_luma), (bands.chroma, want_chroma)):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)
    # Level 1 of luma is kept whole: it is the brightness the decision looks at.
    assert np.array_equal(bands.luma_half, gaussian_levels(to_fixed_ycc(rgb, 1.0, False)[0], 1)[1])
