"""Fake ``picamera2.outputs``."""

import io


class FileOutput:
    """outputs/fileoutput.py: the ``fileoutput`` setter takes a path or an
    ``io.BufferedIOBase`` and refuses anything else."""

    def __init__(self, file=None, pts=None, split=None):
        if file is not None and not isinstance(file, (str, io.BufferedIOBase)):
            raise RuntimeError("Must pass io.BufferedIOBase")
        self.fileoutput = file
