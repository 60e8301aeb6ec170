"""The suite is laid out like the code: rail/, camera/, jobs/, stacking/, web/, sim/, cluster/,
e2e/.

Shared helpers live beside this file (``rig_support``, ``pi_support``, ``camera_support``,
``fakes/``). pytest puts this folder on ``sys.path`` because it holds a conftest.py and no
``__init__.py``, so every test imports them by name, whatever its subfolder.
"""
