"""The focus rail: a stepper on a STEP/DIR/ENABLE driver, limit switches, homing.

>>> from rig.rail import FocusRail
"""

from rig.rail.base import StepperRail
from rig.rail.errors import (
    HomingError,
    LimitSwitchError,
    PositionUnknownError,
    PulseError,
    RailBusy,
    RailClosed,
    RailError,
    SoftLimitError,
)
from rig.rail.focus_rail import FocusRail
from rig.rail.motion import MoveResult

__all__ = [
    "FocusRail",
    "HomingError",
    "LimitSwitchError",
    "MoveResult",
    "PositionUnknownError",
    "PulseError",
    "RailBusy",
    "RailClosed",
    "RailError",
    "SoftLimitError",
    "StepperRail",
]
