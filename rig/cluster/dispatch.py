"""Stack tasks on a Dask cluster: connect to one (or start one here), ask each task's
memory of the workers, collect the results as they come.

A worker that dies mid-task (killed, out of memory, its machine gone) is the
scheduler's to handle: it runs the task again on another worker, up to
``distributed.scheduler.allowed-failures`` times; the task's atomic writes make a
second attempt safe (:mod:`rig.cluster.task`).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from rig.cluster.resources import MEMORY, memory_for_stacks, stack_memory, worker_memory
from rig.cluster.task import StackTask, TaskResult, run_stack_task

log = logging.getLogger(__name__)

Status = Literal["done", "skipped", "failed"]


class ClusterError(Exception):
    """The cluster cannot be used (the message says why and what to do)."""


@dataclass(frozen=True)
class StackOutcome:
    """How one stack went: its result, or why it has none."""

    task: StackTask
    status: Status
    result: TaskResult | None = None
    error: str | None = None
    previous: dict[str, Any] | None = None  # a skipped stack: its earlier run's record


def require_distributed() -> None:
    try:
        import distributed  # noqa: F401
        import fsspec  # noqa: F401
    except ImportError as exc:
        raise ClusterError(
            f"stacking on a cluster needs the cluster extra ({exc.name} is missing): "
            "pip install 'macrorig[cluster]'"
        ) from None


def machine_memory() -> int:
    """Physical memory of this computer, in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@contextmanager
def cluster_client(
    address: str | None = None, *, local_workers: int = 1, timeout: float = 10.0
) -> Iterator[Any]:
    """A client of the scheduler at ``address``, or of a cluster of ``local_workers``
    worker processes started here (one stack thread each, the machine's memory shared
    out as their MEMORY resource)."""
    require_distributed()
    from distributed import Client, LocalCluster

    cluster = None
    if address:
        try:
            client = Client(address, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the scheduler at {address}: {exc}") from None
    else:
        memory = machine_memory() // max(1, local_workers)
        cluster = LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            resources={MEMORY: memory_for_stacks(memory)},
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        if address:
            try:
                client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                raise ClusterError(
                    f"the scheduler at {address} has no workers (start some with "
                    f"`dask worker {address} --resources MEMORY=<bytes>`)"
                ) from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def submit_stack(client: Any, task: StackTask, resources: dict[str, float] | None) -> Any:
    """One task on the cluster: its future."""
    key = f"stack-{task.name}-{secrets.token_hex(4)}"
    return client.submit(run_stack_task, task, key=key, resources=resources, pure=False)


def task_resources(client: Any, task: StackTask) -> dict[str, float] | None:
    """What ``task`` asks of a worker: None when no worker declares its MEMORY (then
    each worker runs as many stacks as it has threads).  Raises ClusterError when no
    worker has memory enough for it."""
    declared = worker_memory(client.scheduler_info(n_workers=-1))
    need = stack_memory(task.pixels)
    if not declared:
        return None
    if need > max(declared):
        raise ClusterError(
            f"needs about {need / 1e6:.0f} MB; the largest worker offers "
            f"{max(declared) / 1e6:.0f} MB (raise its --resources MEMORY=…)"
        )
    return {MEMORY: need}


def run_tasks(
    client: Any,
    tasks: Sequence[StackTask],
    *,
    on_done: Callable[[StackOutcome], None] | None = None,
) -> list[StackOutcome]:
    """Run every task on the cluster; outcomes in the tasks' order."""
    from distributed import as_completed

    if tasks and not worker_memory(client.scheduler_info(n_workers=-1)):
        log.warning(
            "the workers declare no %s resource: each runs as many stacks at once as it has "
            "threads (start them with --resources %s=<bytes>)",
            MEMORY,
            MEMORY,
        )
    outcomes: dict[int, StackOutcome] = {}
    futures: dict[Any, int] = {}
    for index, task in enumerate(tasks):
        try:
            futures[submit_stack(client, task, task_resources(client, task))] = index
        except ClusterError as exc:
            outcomes[index] = StackOutcome(task, "failed", error=str(exc))
            if on_done:
                on_done(outcomes[index])
    for future in as_completed(list(futures)):
        index = futures[future]
        outcomes[index] = _outcome(tasks[index], future)
        if on_done:
            on_done(outcomes[index])
    return [outcomes[i] for i in range(len(tasks))]


def _outcome(task: StackTask, future: Any) -> StackOutcome:
    try:
        result = future.result()
    except Exception as exc:  # the cluster's (a worker died every time…) or a bug
        return StackOutcome(task, "failed", error=describe_failure(exc))
    if result.error is not None:  # bad input: the task wrote nothing
        return StackOutcome(task, "failed", result=result, error=result.error)
    return StackOutcome(task, "done", result=result)


def describe_failure(exc: BaseException) -> str:
    """One line for the summary and the log."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return f"its worker died on every attempt ({exc})"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]
