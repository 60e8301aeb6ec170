"""Focus stacking: aligned, tiled, streaming fusion with bounded memory.

Knows nothing about the rig — frames in, fused image out::

    from stacker import Stream, StackOptions
    with Stream(count=len(frames)) as stream:
        for frame in frames:          # H×W×3 uint8/uint16, RGB
            stream.add(frame)
        result = stream.finish()      # result.to_uint8() / .to_uint16(), .depth

Stages, one module each: ``align`` (register neighbours), ``bands`` (colour → luma/
chroma Laplacian bands per tile), ``merge`` (decide and merge), ``focus`` (focus measure,
depth map), ``stream`` (orchestration), ``io`` / ``files`` (reading and writing).
"""

from stacker.align import RegistrationError
from stacker.files import list_inputs, stack_files, write_result
from stacker.io import ImageIOError, read_frame, write_image
from stacker.result import FusedImage, StackResult
from stacker.stream import (
    METHODS,
    FrameReport,
    StackError,
    StackOptions,
    Stream,
)

__all__ = [
    "METHODS",
    "FrameReport",
    "FusedImage",
    "ImageIOError",
    "RegistrationError",
    "StackError",
    "StackOptions",
    "StackResult",
    "Stream",
    "list_inputs",
    "read_frame",
    "stack_files",
    "write_image",
    "write_result",
]
