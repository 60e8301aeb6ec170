"""macrorig: the rig side — hardware (rail, light, camera), jobs and the daemon.

The stacking engine lives in :mod:`stacker` and knows nothing about the rig;
the HTTP layer lives in :mod:`web`.
"""

__version__ = "0.1.0"
