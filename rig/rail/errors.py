"""What can go wrong with a rail, as exceptions a caller can tell apart."""

from __future__ import annotations


class RailError(Exception):
    """Base class: the rail refused or could not complete an operation."""


class RailBusy(RailError):
    """Another move (or homing) is already running on this rail."""


class SoftLimitError(RailError):
    """The requested position lies outside the soft limits; nothing moved."""


class LimitSwitchError(RailError):
    """A limit switch stopped the carriage (or blocks the requested direction)."""


class PositionUnknownError(RailError):
    """An absolute move needs a known position: home the rail or set the position."""


class HomingError(RailError):
    """Homing could not find, leave or re-find its switch."""


class RailClosed(RailError):
    """The rail has been closed."""


class PulseError(RailError):
    """The STEP pulse back-end failed mid-move; the motor was stopped, position unknown."""
