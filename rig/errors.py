"""The rig's refusals: errors whose message says what to change.

The service raises these for requests it will not carry out; each client maps every kind
to its own answer (the web layer to an HTTP status, in ``web/errors.py``).  Anything
else escaping the service is a bug, not the caller's fault.
"""

from __future__ import annotations


class RigError(Exception):
    """A request the rig refuses; the message says why and what to do instead."""


class NotFound(RigError, LookupError):
    """No such job, preset, schedule or file."""


class Conflict(RigError):
    """The record exists already or is in the wrong state for this."""


class InvalidRequest(RigError):
    """A value the rig cannot take here (outside the rail's limits, a time in the past…)."""


class InvalidValue(InvalidRequest):
    """One field's value is refused (the message names the field): a position outside
    the soft limits, an unsafe callback URL, a preset name that is not a name."""


class RigBusy(RigError):
    """The rail (or camera) is in use: a stack runs or a manual move is under way."""


class HardwareUnavailable(RigError):
    """The hardware did not start (or failed); the message says why."""


class StoreDamaged(RigError):
    """The job database file is damaged (the message says how); a restart sets it aside
    and rebuilds the job list from the job folders (:mod:`rig.store_recovery`)."""
