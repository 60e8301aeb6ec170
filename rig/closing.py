"""Close many things where one failing must not leave the others open."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)


def close_all(closers: Iterable[Callable[[], None]], *, raise_first: bool = True) -> None:
    """Call every closer in order, whatever the earlier ones raise.

    Each failure is logged; the first is raised at the end (``raise_first``), so
    the caller still learns that something did not close cleanly.
    """
    first: Exception | None = None
    for close in closers:
        try:
            close()
        except Exception as exc:  # keep going: the rest must still be released
            log.error("closing %s failed: %s", getattr(close, "__qualname__", close), exc)
            first = first or exc
    if first is not None and raise_first:
        raise first
