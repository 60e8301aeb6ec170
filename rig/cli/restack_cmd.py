"""``macrorig restack``: stack an archive of job folders (or plain folders of frames)
again, one Dask task per stack, on a cluster or on worker processes started here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rig.cli.errors import CliError
from rig.cli.progress import ProgressBar
from stacker import METHODS

if TYPE_CHECKING:
    from rig.cluster.dispatch import StackOutcome
    from rig.cluster.task import StackTask


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "restack",
        help="stack an archive of job folders again, on a Dask cluster",
        description="Every job folder (<data>/jobs/<id>/, its manifest and plan) or plain "
        "folder of frames under ARCHIVE becomes one task running the same stacker as "
        "`macrorig stack`; results go beside the frames.  A stack already restacked with "
        "the same method is skipped unless --force.  ARCHIVE may be an fsspec URL "
        "(s3://…, sftp://…) the workers can read.  Needs macrorig[cluster].",
    )
    p.add_argument("archives", nargs="+", metavar="ARCHIVE", help="folders (or URLs) to search")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--cluster", metavar="tcp://HOST:8786", help="the Dask scheduler to use")
    where.add_argument(
        "--local",
        type=_positive,
        metavar="N",
        help="start N worker processes here instead (default: one per core)",
    )
    p.add_argument(
        "--method", choices=METHODS, help="fusion method (default: each job's plan, else pyramid)"
    )
    p.add_argument("--force", action="store_true", help="restack what an earlier run did too")
    p.add_argument(
        "--threads",
        type=_positive,
        metavar="T",
        help="tile threads per stack (default: cores / workers here, the stacker's own on "
        "a cluster)",
    )
    p.add_argument(
        "--summary",
        default="restack-summary.csv",
        metavar="PATH",
        help="the summary table (CSV; a .parquet beside it when pyarrow is installed)",
    )
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


def run(args: argparse.Namespace) -> int:
    # Dask's own INFO lines (scheduler, nannies, workers started here) would bury the
    # progress bar and the table; its warnings still show.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    from rig.cluster.archive import ArchiveError, find_stacks
    from rig.cluster.dispatch import ClusterError, StackOutcome, require_distributed

    summary = Path(args.summary)
    if summary.suffix.lower() != ".csv":
        raise CliError(f"--summary {summary}: the summary is a CSV file; use a .csv name")
    if not summary.parent.is_dir():
        raise CliError(f"--summary {summary}: the folder {summary.parent} does not exist")
    try:
        require_distributed()
        local = None if args.cluster else (args.local or os.cpu_count() or 1)
        threads = args.threads or (max(1, (os.cpu_count() or 1) // local) if local else None)
        found = find_stacks(args.archives, method=args.method, threads=threads)
    except (ClusterError, ArchiveError) as exc:
        raise CliError(str(exc)) from None
    if not found:
        raise CliError(f"no job folders or folders of frames under {', '.join(args.archives)}")

    outcomes: dict[int, StackOutcome] = {}
    pending = []
    for i, stack in enumerate(found):
        if stack.problem:
            outcomes[i] = StackOutcome(stack.task, "failed", error=stack.problem)
        elif stack.done is not None and not args.force:
            outcomes[i] = StackOutcome(stack.task, "skipped", previous=stack.done)
        else:
            pending.append(i)
    print(
        f"{len(found)} stacks: {len(pending)} to stack, "
        f"{sum(o.status == 'skipped' for o in outcomes.values())} done before",
        file=sys.stderr,
    )
    if pending:
        outcomes.update(_run(args.cluster, local, [found[i].task for i in pending], pending))
    ordered = [outcomes[i] for i in range(len(found))]

    from rig.cluster.summary import format_table, write_summary

    print(format_table(ordered))
    for path in write_summary(ordered, summary):
        print(f"wrote {path}")
    return 1 if any(o.status == "failed" for o in ordered) else 0


def _run(
    cluster: str | None, local: int | None, tasks: list[StackTask], indices: list[int]
) -> dict[int, StackOutcome]:
    from rig.cluster.dispatch import ClusterError, cluster_client, run_tasks

    bar = ProgressBar("restacking")
    finished = 0

    def done(outcome: StackOutcome) -> None:
        nonlocal finished
        finished += 1
        bar(finished, len(tasks))
        if outcome.status == "failed":
            print(f"macrorig restack: {outcome.task.name}: {outcome.error}", file=sys.stderr)

    try:
        with cluster_client(cluster, local_workers=local or 1) as client:
            results = run_tasks(client, tasks, on_done=done)
    except ClusterError as exc:
        raise CliError(str(exc)) from None
    return dict(zip(indices, results, strict=True))
