"""PNG encoded in bands on every core: files libpng (OpenCV) and Pillow read back exactly,
the same bytes however many threads wrote them."""

from __future__ import annotations

import io
import random
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from stacker import png
from stacker.io import SOFTWARE, ImageIOError, write_image


def _image(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise: rows alike enough for the Up filter to matter,
    every byte value reached (16 bits: both bytes)."""
    rng = np.random.default_rng(seed)
    peak = np.iinfo(dtype).max
    ramp = np.linspace(0, peak, shape[1], dtype=np.float64)[None, :]
    if len(shape) == 3:
        ramp = ramp[..., None] * np.array([1.0, 0.5, 0.25])
    noise = rng.normal(0, peak / 50, shape)
    return np.clip(ramp + noise, 0, peak).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 7, 3), (5, 1), (37, 53, 3), (3001, 400, 3), (2500, 600)]
)
def test_libpng_and_pillow_read_back_the_exact_pixels(shape, dtype):
    image = _image(shape, dtype)
    data = png.encode(image, workers=2)
    assert np.array_equal(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED),
        image[..., ::-1] if image.ndim == 3 else image,
    )
    with Image.open(io.BytesIO(data)) as im:
        im.verify()  # every chunk's CRC
    with Image.open(io.BytesIO(data)) as im:
        pixels = np.asarray(im)
    if dtype == np.uint8 or image.ndim == 2:  # Pillow keeps 16 bits for grey only
        assert np.array_equal(pixels.astype(dtype), image)


def test_bgr_is_written_as_rgb():
    rgb = _image((64, 48, 3), np.uint8)
    assert png.encode(np.ascontiguousarray(rgb[..., ::-1]), bgr=True) == png.encode(rgb)


def test_the_same_bytes_whatever_the_threads(monkeypatch):
    monkeypatch.setattr(png, "_BAND_BYTES", 5_000)  # many bands at a small size
    image = _image((900, 333, 3), np.uint16, seed=3)
    one = png.encode(image, workers=1)
    assert png.encode(image, workers=3) == one == png.encode(image, workers=8)
    assert one.count(b"IDAT") > 10
    back = cv2.imdecode(np.frombuffer(one, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(back, image[..., ::-1])


def test_the_joined_checksum_is_zlibs_of_the_whole():
    rng = random.Random(7)
    for _ in range(200):
        a = rng.randbytes(rng.choice([0, 1, 100, 65521, 70_000, rng.randrange(300_000)]))
        b = bytes([255]) * rng.choice([0, 1, 65520, 65522, rng.randrange(300_000)])
        whole = png._adler32_joined(zlib.adler32(a), zlib.adler32(b), len(b))
        assert whole == zlib.adler32(a + b)


def test_write_image_labels_the_file_and_refuses_what_png_cannot_hold(tmp_path):
    path = tmp_path / "out.png"
    write_image(path, _image((20, 30, 3), np.uint8))
    with Image.open(path) as im:
        assert im.info["Software"] == SOFTWARE
    with pytest.raises(ImageIOError, match="PNG takes grey or RGB"):
        write_image(tmp_path / "four.png", np.zeros((4, 4, 4), np.uint8))
    assert not (tmp_path / "four.png").exists()
    with pytest.raises(ValueError, match="PNG takes grey or RGB"):
        png.encode(np.zeros((4, 4), np.float32))
