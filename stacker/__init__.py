"""Focus stacking: aligned, tiled, streaming fusion with bounded memory.

Knows nothing about the rig — frames in, fused image out::

    from stacker import Stream, StackOptions
    with Stream(count=len(frames)) as stream:
        for frame in frames:          # H×W×3 uint8/uint16, RGB
            stream.add(frame)
        result = stream.finish()      # result.to_uint8() / .to_uint16(), .depth

Stages, one module each: ``align`` (register one frame to its neighbour), ``chain``
(the chain of registrations, each frame's place relative to the reference), ``bands``
(colour → luma/chroma Laplacian bands per tile), ``methods`` (the fusion methods: who
wins where, as blending weights), ``pyramid`` (the fused pyramid the weights blend
into), ``compand`` (the int8 code of fine chroma), ``focus`` (coarse focus map, depth
map), ``stream`` (orchestration), ``result`` (the fused image), ``io`` / ``files``
(reading and writing).  ``measure`` holds yardsticks for tests and benchmarks.
"""

from stacker.align import RegistrationError
from stacker.files import list_inputs, stack_files, write_result
from stacker.io import ImageIOError, read_frame, write_image
from stacker.methods import DEFAULT_METHOD, METHOD_NAMES
from stacker.result import FusedImage, StackResult
from stacker.stream import FrameReport, StackError, StackOptions, Stream

METHODS = METHOD_NAMES  # the fusion methods' names, the default first

__all__ = [
    "DEFAULT_METHOD",
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
