"""A frame as its file holds it: registered from a cheap reduced decode, decoded in full
only when it is fused.

A JPEG's registration proxy is its own luma decoded at the proxy's size
(:func:`stacker.jpeg.reduced_luma`): ~20 ms at 12 MP against ~46 ms for a full decode and
a shrink, and a few MB instead of the frame's 37.  So frames before the reference are
decoded in full only once, when they are fused, and the next frame can be registered
while this one is fused without a second frame in memory.  JPEG luma is the BT.601 luma
the proxy of decoded pixels is made of.  Other formats, and JPEGs the fast decoder does
not take, are decoded in full and shrunk (:meth:`~stacker.align.Proxy.from_frame`).

Which proxy a frame gets depends only on its file, never on the caller or on the
machine's load: a live stack and a restack of its frames see the same proxies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np

from stacker import jpeg
from stacker.align import Proxy, proxy_scale
from stacker.io import decode_frame, read_bytes


@dataclass(frozen=True)
class OpenedFrame:
    """What the stream needs to register a frame, and ``pixels()``, its full pixels for
    when it is fused (a file's decoded then; nothing holds them before or after)."""

    size: tuple[int, int]  # width, height
    dtype: np.dtype
    proxy: Proxy | None  # None when it was not asked for
    pixels: Callable[[], np.ndarray]

    @classmethod
    def of_pixels(cls, holder: list[np.ndarray], bgr: bool, *, proxy: bool = True) -> OpenedFrame:
        """A frame already decoded, taken out of ``holder``: the first ``pixels()`` hands
        it over and forgets it."""
        frame = holder[0]
        return cls(
            (frame.shape[1], frame.shape[0]),
            frame.dtype,
            Proxy.from_frame(frame, bgr) if proxy else None,
            holder.pop,
        )

    def decoding_on(self, executor: Executor) -> OpenedFrame:
        """The same frame, its full decode started on ``executor`` now (while it is
        registered); the first ``pixels()`` waits for it."""
        started = [executor.submit(self.pixels)]

        def pixels() -> np.ndarray:
            return started.pop().result() if started else self.pixels()

        return replace(self, pixels=pixels)


def open_frame(
    data: bytes,
    name: str,
    *,
    bgr: bool,
    proxy: bool = True,
    path: str | os.PathLike[str] | None = None,
) -> OpenedFrame:
    """Open a frame file's bytes (``name`` is what messages call it), with its
    registration proxy unless ``proxy`` is False; raises
    :class:`~stacker.io.ImageIOError` when they are not an image.  ``path``: the file the
    bytes came from; the full decode reads it again (from the page cache) rather than
    holding the bytes until the frame is fused — alongside a fusion, they would sit on the
    tiles' peak."""
    size = jpeg.plain_size(data)
    if size is not None:
        luma = jpeg.reduced_luma(data, size, proxy_scale(size[0])) if proxy else None
        if luma is not None or not proxy:
            return OpenedFrame(
                size,
                np.dtype(np.uint8),
                None if luma is None else Proxy.from_grey(luma, size),
                _decoder(None if path is not None else data, path, name, bgr),
            )
    return OpenedFrame.of_pixels([decode_frame(data, name, bgr=bgr)], bgr, proxy=proxy)


def _decoder(
    data: bytes | None, path: str | os.PathLike[str] | None, name: str, bgr: bool
) -> Callable[[], np.ndarray]:
    """The full decode of a plain JPEG (known to be one: its header is not read again),
    from ``data`` or, when None, from the file at ``path`` read again."""

    def decode(data: bytes) -> np.ndarray:
        img = jpeg.decode(data, bgr=bgr)
        return img if img is not None else decode_frame(data, name, bgr=bgr)

    if data is not None:
        return lambda: decode(data)
    assert path is not None
    return lambda: decode(read_bytes(path))


def read_frame_file(path: str | os.PathLike[str], *, bgr: bool, proxy: bool = True) -> OpenedFrame:
    """:func:`open_frame` for a file on disk."""
    return open_frame(read_bytes(path), str(path), bgr=bgr, proxy=proxy, path=path)
