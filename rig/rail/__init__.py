"""The focus rail: a stepper on a STEP/DIR/ENABLE driver, limit switches, homing.

>>> from rig.rail import FocusRail

One job per module: ``focus_rail`` builds the parts from ``[rail]``;
``stepper_rail`` is the rail's behaviour over them (locks, operations, when the
driver is released and the position saved); ``motion`` runs moves and legs,
``geometry`` knows steps, soft limits and approach legs, ``position`` and
``state`` keep the position (in memory, on disk), ``homing`` finds the switch,
``power`` drives ENABLE, ``switches`` reads the limit switches, ``profile``
plans the ramps, ``pulses`` is the back-end interface (``pulses_software``,
``pulses_lgpio``), ``drivers`` the registry of driver chips.
"""

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
from rig.rail.stepper_rail import StepperRail

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
