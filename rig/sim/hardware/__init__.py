"""The hardware twin behind ``--sim``: the rig's devices, simulated at their wires.

One module per simulated part: ``pins`` (the mock GPIO every real device runs
on), ``carriage`` (follows STEP/DIR/ENABLE, presses the limit switches),
``led`` (brightness from the LED pin), ``camera`` (renders what the carriage and
the LED show, with :mod:`rig.sim.render`), and ``bench`` wiring them from the
config.  The camera is imported from its module, so importing this package does
not load the renderer.
"""

from rig.sim.hardware.bench import SimBench
from rig.sim.hardware.carriage import Carriage
from rig.sim.hardware.led import BenchLed
from rig.sim.hardware.pins import BenchPin

__all__ = ["BenchLed", "BenchPin", "Carriage", "SimBench"]
