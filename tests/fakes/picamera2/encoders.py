"""Fake ``picamera2.encoders``: which JPEG encoders exist, and which stream formats they take.

picamera2/encoders/__init__.py sets ``_hw_encoder_available = get_platform() == VC4`` at
import; elsewhere (a Pi 5) ``MJPEGEncoder`` is ``LibavMjpegEncoder``, a software encoder.
"""

from __future__ import annotations

from typing import Any

from picamera2.platform import Platform, get_platform


class Encoder:
    formats: frozenset[str] = frozenset()

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs
        self.output: Any = None
        self.name: str | None = None
        self.format: str | None = None

    def start(self, stream_format: str) -> None:
        """Picamera2.start_encoder hands over the stream's format, then starts the encoder."""
        if stream_format not in self.formats:
            raise RuntimeError(f"{type(self).__name__} cannot encode a {stream_format} stream")
        self.format = stream_format


class JpegEncoder(Encoder):
    """encoders/jpeg_encoder.py: simplejpeg in software.  encode_func takes ``YUV420``
    (since picamera2 0.3.26) and the formats of its FORMAT_TABLE; any other fails at the
    first frame in the real one (a KeyError), already at start here."""

    formats = frozenset({"YUV420", "XBGR8888", "XRGB8888", "BGR888", "RGB888"})


class MJPEGEncoder(Encoder):
    """encoders/mjpeg_encoder.py: the VC4's V4L2 hardware encoder; v4l2_encoder.py
    _v4l2_format refuses formats outside its table ("Unrecognised format")."""

    formats = frozenset({"RGB888", "BGR888", "XBGR8888", "XRGB8888", "YUV420"})


class LibavMjpegEncoder(Encoder):
    """encoders/libav_mjpeg_encoder.py: libav's MJPEG in software (FORMAT_TABLE in _start)."""

    formats = frozenset({"YUV420", "BGR888", "RGB888", "XBGR8888", "XRGB8888"})


if get_platform() != Platform.VC4:
    MJPEGEncoder = LibavMjpegEncoder  # as encoders/__init__.py does
