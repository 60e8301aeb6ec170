"""Everything simulated, in two parts that share nothing but this folder.

* :mod:`rig.sim.render` – the virtual optical bench: scenes with a known answer
  imaged through a defocusing lens (the ``macrorig sim render`` tool, the stacker's
  test stacks, and the simulated camera's pictures).
* :mod:`rig.sim.hardware` – the hardware twin behind ``--sim``: mock GPIO pins, a
  carriage that follows STEP/DIR/ENABLE and presses the limit switches, the LED's
  level, and a camera that renders what the carriage and the LED really show.
"""
