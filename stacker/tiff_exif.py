"""Carry a JPEG's EXIF over into a TIFF written by tifffile.

tifffile writes the image and plain IFD0 tags; the EXIF sub-IFD (exposure, lens, date…)
is serialised by Pillow's IFD writer, appended to the file, and linked from IFD0's
ExifIFD tag (34665), which is patched in place.
"""

from __future__ import annotations

import struct
from pathlib import Path

EXIF_IFD_TAG = 0x8769
PLACEHOLDER_TAG = 65000
_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, …, copyright


def _load(exif: bytes):  # type: ignore[no-untyped-def]
    from PIL import Image

    parsed = Image.Exif()
    parsed.load(exif if exif.startswith(b"Exif") else b"Exif\x00\x00" + exif)
    return parsed


def ifd0_text_tags(exif: bytes) -> dict[int, str]:
    """Text tags of EXIF IFD0 worth repeating as TIFF tags (software is ours)."""
    parsed = _load(exif)
    out = {}
    for code in _TEXT_TAGS:
        value = parsed.get(code)
        if isinstance(value, str) and value.strip("\x00 ") and code != 305:
            out[code] = value.strip("\x00")
    return out


def attach_exif_ifd(path: Path, exif: bytes) -> None:
    from PIL import TiffImagePlugin

    sub = _load(exif).get_ifd(EXIF_IFD_TAG)
    if not sub:
        return
    with open(path, "r+b") as f:
        header = f.read(8)
        prefix = header[:2]
        endian = "<" if prefix == b"II" else ">"
        if struct.unpack(endian + "H", header[2:4])[0] != 42:
            return  # BigTIFF: leave the EXIF out rather than risk the file
        ifd0 = struct.unpack(endian + "I", header[4:8])[0]
        f.seek(0, 2)
        end = f.tell()
        offset = end + (end & 1)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=prefix)
        for tag, value in sub.items():
            if tag in (0x927C,):  # maker notes: opaque, offsets inside them would break
                continue
            ifd[tag] = value
        data = ifd.tobytes(offset)
        f.write(b"\x00" * (offset - end) + data)
        _point_ifd0_entry(f, endian, ifd0, offset)


def _point_ifd0_entry(f, endian: str, ifd0: int, value: int) -> None:  # type: ignore[no-untyped-def]
    """Turn IFD0's placeholder entry into ExifIFD → ``value``.  Entries must stay sorted,
    so this only happens when every other tag sorts below 34665."""
    f.seek(ifd0)
    (count,) = struct.unpack(endian + "H", f.read(2))
    tags = []
    for i in range(count):
        f.seek(ifd0 + 2 + 12 * i)
        tags.append(struct.unpack(endian + "H", f.read(2))[0])
    if PLACEHOLDER_TAG not in tags:
        return
    pos = ifd0 + 2 + 12 * tags.index(PLACEHOLDER_TAG)
    others = [t for t in tags if t != PLACEHOLDER_TAG]
    if others and max(others) >= EXIF_IFD_TAG:
        return
    f.seek(pos)
    f.write(struct.pack(endian + "HHII", EXIF_IFD_TAG, 4, 1, value))  # LONG, 1, offset
