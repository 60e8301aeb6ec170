"""The fusion methods, by name: adding one is a new FusionMethod subclass and one line in
METHODS.  The first is the default.  The rig's plan and the HTTP API take their allowed
``method`` values from here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from stacker.methods.base import FusionMethod
from stacker.methods.depthmap import SmoothDepth
from stacker.methods.sharpest import SharpestDetail

METHODS: dict[str, type[FusionMethod]] = {
    SharpestDetail.name: SharpestDetail,
    SmoothDepth.name: SmoothDepth,
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
DEFAULT_METHOD = METHOD_NAMES[0]

# A method's name: validated against the registry wherever a model declares it (pydantic
# reads the Literal of the registered names; type checkers see a plain str).
if TYPE_CHECKING:
    MethodName = str
else:
    MethodName = Literal[METHOD_NAMES]

__all__ = ["DEFAULT_METHOD", "METHODS", "METHOD_NAMES", "FusionMethod", "MethodName"]
