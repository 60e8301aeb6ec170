"""``macrorig trigger``: start a stack on a (remote) rig over HTTP.

Prints the job id; with ``--wait`` follows its progress on stderr and prints the result
URL.  Exit status: 0 done (or queued without --wait), 1 the stack failed or was
cancelled, 2 bad input or the rig could not be reached or refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rig.cli.errors import CliError
from rig.cli.health_text import summary_lines
from rig.client import Client, ClientError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "trigger",
        help="start a stack on a rig over HTTP",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", required=True, help="the rig, e.g. http://rigpi.local:8000")
    p.add_argument("--token", help="API token (default: $MACRORIG_TOKEN)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", help="name of a saved preset")
    what.add_argument(
        "--plan", type=Path, help="JSON file with a plan (start_mm, end_mm, count or step_um, …)"
    )
    p.add_argument("--wait", action="store_true", help="follow the stack to the end")
    p.add_argument("--callback", help="URL to POST the job to when it ends")
    p.add_argument(
        "--idempotency-key", help="retrying with the same key never starts a second stack"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("MACRORIG_TOKEN")
    if not token:
        raise CliError("give --token (or set MACRORIG_TOKEN): it is in <data>/api-token on the rig")
    body: dict[str, object] = {}
    if args.plan is not None:
        try:
            body["plan"] = json.loads(args.plan.read_text())
        except OSError as exc:
            raise CliError(f"{args.plan}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CliError(f"{args.plan}: not a text file (a plan is JSON in UTF-8)") from None
        except json.JSONDecodeError as exc:
            raise CliError(
                f"{args.plan}: not valid JSON ({exc.msg} at line {exc.lineno})"
            ) from None
    else:
        body["preset"] = args.preset
    if args.callback:
        body["callback_url"] = args.callback
    try:
        with Client(args.url, token) as client:
            job = client.submit(body, args.idempotency_key)
            print(job["id"], flush=True)
            if not args.wait:
                return 0
            for update in client.follow(job["id"]):
                progress = update.get("progress") or {}
                frame = progress.get("frame", update["frames_done"])
                print(
                    f"{update['state']}: frame {frame} of {update['frames_planned']}",
                    file=sys.stderr,
                    flush=True,
                )
                job = update
            if job["state"] == "done":
                _print_health(client, job)
    except ClientError as exc:
        raise CliError(str(exc)) from None
    if job["state"] != "done":
        print(
            f"macrorig trigger: job {job['id']} {job['state']}: {job.get('error') or ''}".rstrip(
                ": "
            ),
            file=sys.stderr,
        )
        return 1
    result = job["urls"].get("result.jpg") or next(iter(job["urls"].values()))
    print(f"{args.url.rstrip('/')}{result}")
    return 0


def _print_health(client: Client, job: dict[str, object]) -> None:
    """The health check's summary on stderr (stdout stays the result URL for scripts)."""
    urls = job.get("urls")
    if not isinstance(urls, dict) or "report.json" not in urls:
        return
    health = (client.request("GET", str(urls["report.json"])) or {}).get("health")
    if isinstance(health, dict):
        print("\n".join(summary_lines(health)), file=sys.stderr)
