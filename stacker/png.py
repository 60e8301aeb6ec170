"""PNG encoding on every core.

libpng (OpenCV's ``imencode``) filters and deflates a 12 MP image on one core in
~0.35 s, longer than a frame takes to fuse.  Deflate streams can be cut at byte
boundaries (a sync flush) and joined, so bands of rows are filtered and deflated on
separate threads (zlib and numpy release the GIL) and their outputs laid end to end in
one zlib stream; the checksum of the whole is put together from the bands' own.

Every row uses PNG's "Up" filter (the byte above subtracted): vectorised in one numpy
call, and on photographs it gave files 6–17 % smaller than libpng's default with OpenCV
(measured on the bench frames and the real stacks in ``../shared/stacks``).  Deflate
runs at level 1 with run-length matching only, as OpenCV's default does.
"""

from __future__ import annotations

import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, fastest level; a multiple of 31
_ADLER_MOD = 65521
# A band is deflated in one call: big enough that the sync flushes cost nothing
# (~5 bytes each), small enough that there are several per worker to share out.
_BAND_BYTES = 2 << 20


def _encodable(image: np.ndarray) -> bool:
    """Whether :func:`encode` takes it: grey or three-channel, 8 or 16 bits."""
    channels_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)
    return channels_ok and image.dtype in (np.uint8, np.uint16) and image.size > 0


def encode(
    image: np.ndarray,
    *,
    bgr: bool = False,
    text: dict[str, str] | None = None,
    workers: int | None = None,
) -> bytes:
    """The PNG file of an H×W (grey) or H×W×3 (RGB, or BGR when ``bgr``) uint8/uint16
    image, with ``text`` as tEXt chunks (Latin-1)."""
    if not _encodable(image):
        raise ValueError(
            f"PNG takes grey or RGB uint8/uint16 images, not {image.shape} {image.dtype}"
        )
    height, width = image.shape[:2]
    row_bytes = image.itemsize * (image.shape[2] if image.ndim == 3 else 1) * width
    rows_per_band = max(1, _BAND_BYTES // row_bytes)
    starts = list(range(0, height, rows_per_band))
    workers = workers or os.cpu_count() or 1

    def band(i: int) -> tuple[bytes, int, int]:
        y0 = starts[i]
        y1 = min(height, y0 + rows_per_band)
        return _deflate_band(image, y0, y1, bgr, last=y1 == height)

    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(workers, len(starts)), thread_name_prefix="png") as pool:
            bands = list(pool.map(band, range(len(starts))))
    else:
        bands = [band(i) for i in range(len(starts))]

    checksum = 1
    for _, adler, length in bands:
        checksum = _adler32_joined(checksum, adler, length)
    idat = [data for data, _, _ in bands]
    idat[0] = _ZLIB_HEADER + idat[0]
    idat[-1] += checksum.to_bytes(4, "big")

    colour_type = 2 if image.ndim == 3 else 0
    header = struct.pack(">IIBBBBB", width, height, 8 * image.itemsize, colour_type, 0, 0, 0)
    chunks = [_chunk(b"IHDR", header)]
    for key, value in (text or {}).items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1")))
    chunks += [_chunk(b"IDAT", data) for data in idat]
    chunks.append(_chunk(b"IEND", b""))
    return _SIGNATURE + b"".join(chunks)


def _deflate_band(
    image: np.ndarray, y0: int, y1: int, bgr: bool, *, last: bool
) -> tuple[bytes, int, int]:
    """Rows y0..y1 filtered and deflated (ending in a sync flush unless ``last``), with
    the Adler-32 and length of the filtered bytes."""
    rows = _scanlines(image, max(0, y0 - 1), y1, bgr)
    if y0 > 0:
        above, rows = rows[:1], rows[1:]
    else:  # the first row's "above" is zeros: Up leaves it as it is
        above = np.zeros((1, rows.shape[1]), np.uint8)
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = _FILTER_UP
    np.subtract(rows[:1], above, out=filtered[:1, 1:])  # uint8: modulo 256, as PNG wants
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    raw = filtered.data
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15, 8, zlib.Z_RLE)  # -15: no zlib header
    data = deflate.compress(raw) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return data, zlib.adler32(raw), filtered.size


def _scanlines(image: np.ndarray, y0: int, y1: int, bgr: bool) -> np.ndarray:
    """Rows y0..y1 as PNG stores them: RGB order, 16-bit samples big-endian; one row of
    bytes each."""
    rows = image[y0:y1]
    if bgr and rows.ndim == 3:
        rows = rows[..., ::-1]
    if rows.dtype == np.uint16:
        rows = rows.astype(">u2")
    rows = np.ascontiguousarray(rows)
    return rows.view(np.uint8).reshape(y1 - y0, -1)


def _adler32_joined(first: int, second: int, second_length: int) -> int:
    """Adler-32 of two byte strings end to end, from each one's.  With A = 1 + the sum
    of the bytes and B = the sum of A after each byte: the second part's A starts at the
    first's instead of at 1, which adds (A₁ − 1) to each of its ``second_length``
    partial sums."""
    a1, b1 = first & 0xFFFF, first >> 16
    a2, b2 = second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % _ADLER_MOD
    b = (b1 + b2 + second_length * (a1 - 1)) % _ADLER_MOD
    return (b << 16) | a


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))  # of kind + data, without joining them
    return b"".join((struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)))
