#!/usr/bin/env python3
"""Fuzz the HTTP API from its OpenAPI description (schemathesis + hypothesis).

Every operation gets generated requests — valid, invalid, NaN/inf, huge numbers, odd
strings, wrong types — sent with a valid token to the app running on the simulated
bench (in process).  Exit status 1 on any 5xx, or on any request that takes longer than
``--hang-s`` (a hang); figures are printed either way.

    python scripts/fuzz_api.py                  # ≥ 10,000 requests
    python scripts/fuzz_api.py --examples 8     # a quick pass (what the test suite runs)

Jobs are queued but not run (the runner is not started), so the fuzzing measures the
API rather than the stacker; streaming routes (MJPEG, SSE) never end and are exercised
by their own tests instead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import fast_config

from rig.service import Rig
from web.app import create_app
from web.auth import Auth

TOKEN = "fuzz-token"
STREAMING = ("/api/camera/preview.mjpg", "/api/events")
# Failed logins are deliberately slowed down (up to seconds each): fewer examples there.
SLOW = {"POST /api/login": 20}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--examples", type=int, default=320, help="generated requests per operation")
    ap.add_argument("--hang-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="macrorig-fuzz-") as tmp:
        rig = Rig(fast_config(Path(tmp)), simulate=True)
        rig.open(start_runner=False)
        try:
            return fuzz(rig, args)
        finally:
            rig.close()


class Tally:
    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s
        self.codes: Counter[int] = Counter()
        self.failures: list[str] = []
        self.hangs = 0
        self.slowest = (0.0, "")

    def record(
        self, label: str, case: schemathesis.Case, status: int, text: str, spent: float
    ) -> None:
        self.codes[status] += 1
        self.slowest = max(self.slowest, (spent, label))
        if status >= 500:
            curl = case.as_curl_command({"Authorization": "…"})
            self.failures.append(f"{label}: HTTP {status} {text[:200]} for {curl}")
        if spent > self.hang_s:
            self.hangs += 1
            self.failures.append(f"{label}: took {spent:.1f} s")


def exercise(operation: schemathesis.APIOperation, count: int, tally: Tally) -> None:
    """Send ``count`` generated requests to one operation."""

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(operation.as_strategy())
    def one(case: schemathesis.Case) -> None:
        t0 = time.monotonic()
        try:
            response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        except Exception as exc:  # the in-process client re-raises what became a 500
            tally.record(operation.label, case, 500, repr(exc), time.monotonic() - t0)
            return
        spent = time.monotonic() - t0
        text = (
            response.content[:200].decode("utf-8", "replace") if response.status_code >= 500 else ""
        )
        tally.record(operation.label, case, response.status_code, text, spent)

    one()


def fuzz(rig: Rig, args: argparse.Namespace) -> int:
    app = create_app(rig, Auth(token=TOKEN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally = Tally(args.hang_s)
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path not in STREAMING]
    for operation in operations:
        exercise(operation, min(args.examples, SLOW.get(operation.label, args.examples)), tally)
    total = sum(tally.codes.values())
    fives = sum(n for code, n in tally.codes.items() if code >= 500)
    print(f"{total} requests to {len(operations)} operations in {time.monotonic() - started:.0f} s")
    print("status codes: " + ", ".join(f"{code}×{n}" for code, n in sorted(tally.codes.items())))
    slow_s, slow_op = tally.slowest
    print(
        f"5xx: {fives}; slowest request {slow_s:.2f} s ({slow_op}); "
        f"hangs (> {args.hang_s:g} s): {tally.hangs}"
    )
    for failure in tally.failures[:20]:
        print("  " + failure)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
