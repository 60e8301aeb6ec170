"""The runner never sleeps through a wake-up: a job queued, or a shutdown asked for, while
the runner is between reading the queue and starting to wait is seen at once, not after
the idle poll (which would add up to a second to every submission and every close)."""

from __future__ import annotations

import threading

import pytest

from rig.events import EventBus
from rig.jobs import runner as runner_module
from rig.jobs.runner import Runner
from rig.store import Store


@pytest.fixture
def runner(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # A poll so long that a lost wake-up cannot be mistaken for one that was seen.
    monkeypatch.setattr(runner_module, "_IDLE_POLL_S", 3600.0)
    store = Store(tmp_path / "macrorig.db")
    r = Runner(None, store, EventBus(), data_dir=tmp_path)
    yield r
    r.shutdown(timeout=5)
    store.close()


def test_a_job_queued_between_reading_the_queue_and_waiting_is_seen_at_once(runner):
    reads = 0
    read_again = threading.Event()

    def queued():  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += 1
        if reads == 1:
            runner.wake()  # a submission lands after the read, before the wait
        else:
            read_again.set()
        return []

    runner.store.queued = queued  # type: ignore[method-assign]
    runner.start()
    assert read_again.wait(30), "the runner slept through the wake-up"


def test_a_shutdown_asked_for_between_reading_the_queue_and_waiting_ends_the_loop(runner):
    def queued():  # type: ignore[no-untyped-def]
        runner._shutdown.set()  # what shutdown() does first, then it wakes the loop
        runner.wake()
        return []

    runner.store.queued = queued  # type: ignore[method-assign]
    runner.start()
    runner._thread.join(30)
    assert not runner.alive, "the runner slept through the shutdown"
