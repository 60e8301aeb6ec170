"""The suite is laid out like the code: rail/, camera/, jobs/, stacking/, web/, sim/, cluster/,
e2e/.

Shared helpers live beside this file (``rig_support``, ``pi_support``, ``camera_support``,
``fakes/``). pytest puts this folder on ``sys.path`` because it holds a conftest.py and no
``__init__.py``, so every test imports them by name, whatever its subfolder.
"""

from __future__ import annotations

import signal

import pytest
from rig_support import running_rig


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--twelve-mp", action="store_true", help="also run the 12 MP health runs (~20 min)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The 12 MP runs are deselected (and counted as such) unless --twelve-mp is given."""
    if config.getoption("--twelve-mp"):
        return
    chosen = [item for item in items if "twelve_mp" not in item.keywords]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if "twelve_mp" in i.keywords])
        items[:] = chosen


@pytest.fixture
def rig(tmp_path):  # type: ignore[no-untyped-def]
    """A simulated rig on the fast test config, open for the test (a module may define
    its own ``rig`` when it needs another)."""
    with running_rig(tmp_path) as r:
        yield r


@pytest.fixture(autouse=True)
def sigint_left_as_it_was():  # type: ignore[no-untyped-def]
    """A test that leaves Ctrl-C handled otherwise breaks the Ctrl-C tests after it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    assert after is before, f"SIGINT is now handled by {after!r} (was {before!r})"
