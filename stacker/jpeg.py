"""JPEG through libjpeg-turbo (simplejpeg, picamera2's own encoder): the full decode and
the reduced luma a registration proxy is made of.

simplejpeg decodes the same pixels as OpenCV (both libjpeg-turbo, accurate DCT, fancy
upsampling: byte-identical on the rig's frames) in ~60 % of the time (12 MP: 36 against
60 ms), and can decode only the luma, scaled down in the DCT.  It does not apply EXIF
orientation, so a rotated JPEG — like a CMYK one, or anything it cannot read — is left to
OpenCV: every function here returns None for what it does not take.  Optional: without
simplejpeg everything goes through OpenCV.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

# EXIF Orientation: 1 (or none) is upright; libjpeg does not rotate, OpenCV does.
_ORIENTATION = 0x0112


def plain_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an upright YCbCr or grey JPEG; None for anything else."""
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        height, width, colourspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:  # not a JPEG, or one libjpeg-turbo cannot read
        return None
    if colourspace not in ("YCbCr", "Gray") or not _upright(data):
        return None
    return width, height


def _upright(data: bytes) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(im.getexif().get(_ORIENTATION, 1)) == 1
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return False  # OpenCV will judge it


def decode_if_plain(data: bytes, *, bgr: bool) -> np.ndarray | None:
    """:func:`decode` for any file's bytes: None unless it is a :func:`plain_size` JPEG."""
    return decode(data, bgr=bgr) if plain_size(data) is not None else None


def decode(data: bytes, *, bgr: bool) -> np.ndarray | None:
    """H×W×3 uint8 (RGB unless ``bgr``) of a :func:`plain_size` JPEG; None if it fails."""
    import simplejpeg

    try:
        # Not strict: a truncated file decodes as far as it goes, grey below, as OpenCV's
        # imread does; the stacker then finds out the frame does not register.
        return simplejpeg.decode_jpeg(data, "BGR" if bgr else "RGB", strict=False)
    except ValueError:  # damaged beyond that: OpenCV's message says what is wrong
        return None


def reduced_luma(data: bytes, size: tuple[int, int], scale: Fraction) -> np.ndarray | None:
    """H×W uint8 luma of a :func:`plain_size` JPEG of ``size`` scaled by ``scale`` in the
    DCT (libjpeg rounds sizes up); None if libjpeg does not offer that scale (below 1/8)
    or the data is damaged."""
    import simplejpeg

    want = tuple(-(-n * scale.numerator // scale.denominator) for n in size)
    try:
        grey = simplejpeg.decode_jpeg(
            data, "GRAY", min_width=want[0], min_height=want[1], strict=False
        )
    except ValueError:
        return None
    if (grey.shape[1], grey.shape[0]) != want:
        return None
    return grey.reshape(grey.shape[0], grey.shape[1])
