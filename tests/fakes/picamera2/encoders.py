"""Fake ``picamera2.encoders``."""


class Encoder:
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args, self.kwargs = args, kwargs
        self.output = None


class MJPEGEncoder(Encoder):
    """The hardware (V4L2) MJPEG encoder."""


class JpegEncoder(Encoder):
    """The software (simplejpeg) encoder, the only JPEG encoder on a Pi 5."""
