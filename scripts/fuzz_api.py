#!/usr/bin/env python3
"""Fuzz the HTTP API from its OpenAPI description (schemathesis + hypothesis).

Every operation gets generated requests — valid, invalid, NaN/inf, huge numbers, odd
strings, wrong types — sent with a valid token to the app running on the simulated
bench (in process).  Exit status 1 on any 5xx, or on any request that takes longer than
``--hang-s`` (a hang); figures are printed either way.

    python scripts/fuzz_api.py                  # ≥ 10,000 requests
    python scripts/fuzz_api.py --examples 8     # a quick pass (what the test suite runs)

Then every operation that takes a body gets malformed ones the schema cannot describe:
invalid UTF-8, lone surrogates, JSON nested 40,000–100,000 deep, 5000-digit numbers, NaN and
1e999, a chunked body over the 256 KiB limit (must be 413) and under it: each must get a
4xx, never a 5xx.

Jobs are queued but not run (the runner is not started), so the fuzzing measures the
API rather than the stacker; streaming routes (MJPEG, SSE) never end and are exercised
by their own tests instead.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import fast_config

from rig.service import Rig
from web.app import create_app
from web.auth import Auth

TOKEN = "fuzz-token"
STREAMING = ("/api/camera/preview.mjpg", "/api/events")
# A wrong secret locks the client out for a while, bearer requests included: login last.
LAST = "POST /api/login"


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


def _chunked(data: bytes, size: int = 16384) -> Iterator[bytes]:
    """A body sent with Transfer-Encoding: chunked (no Content-Length to refuse it by)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


# (label, body, the status it must get; None: any 4xx)
MALFORMED: list[tuple[str, bytes, int | None]] = [
    ("invalid UTF-8", b'{"plan": {"name": "\xff\xfe"}, "preset": "\xc0"}', 400),
    ("lone surrogate", b'{"plan": {"name": "\\ud800"}, "preset": "\\udfff"}', None),
    ("100,000-deep array", b"[" * 100_000 + b"]" * 100_000, 400),
    ("40,000-deep object", b'{"a":' * 40_000 + b"1" + b"}" * 40_000, 400),
    ("5000-digit integer", b'{"plan": {"start_mm": ' + b"9" * 5000 + b"}}", 400),
    ("5000-digit top level", b"9" * 5000, 400),
    ("NaN and 1e999", b'{"plan": {"start_mm": NaN, "end_mm": 1e999, "count": 3}}', None),
    ("empty body", b"", None),
    ("truncated", b'{"plan": {"start_mm": 1', 400),
    ("UTF-16", '{"preset": "x"}'.encode("utf-16"), None),
]


def malformed(app: object, tally: Tally) -> int:
    """Send every malformed body to every operation that takes one; returns the count."""
    sent = 0
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:  # type: ignore[arg-type]
        for path, operations in client.get("/openapi.json").json()["paths"].items():
            url = re.sub(r"\{[^}]+\}", "x", path)
            for method, operation in operations.items():
                if "requestBody" not in operation:
                    continue
                label = f"{method.upper()} {path}"
                cases = [(name, body, expected, body) for name, body, expected in MALFORMED]
                cases += [
                    ("chunked, 300 KB", b" " * 300_000, 413, _chunked(b" " * 300_000)),
                    ("chunked, deep", b"[" * 50_000, 400, _chunked(b"[" * 50_000)),
                ]
                for name, body, expected, content in cases:
                    t0 = time.monotonic()
                    r = client.request(
                        method.upper(),
                        url,
                        content=content,
                        headers={"Content-Type": "application/json"},
                    )
                    spent = time.monotonic() - t0
                    sent += 1
                    tally.codes[r.status_code] += 1
                    tally.slowest = max(tally.slowest, (spent, f"{label} ({name})"))
                    wrong = r.status_code >= 500 or not 400 <= r.status_code < 500
                    if expected is not None and r.status_code != expected:
                        wrong = True
                    text = r.text
                    if "int_max_str_digits" in text or "Traceback" in text:
                        wrong = True
                    if wrong:
                        tally.failures.append(
                            f"{label} with {name} ({len(body)} bytes): HTTP {r.status_code} "
                            f"{text[:160]} (expected {expected or '4xx'})"
                        )
    return sent


def fuzz(rig: Rig, args: argparse.Namespace) -> int:
    app = create_app(rig, Auth(token=TOKEN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tally = Tally(args.hang_s)
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path not in STREAMING]
    operations.sort(key=lambda operation: operation.label == LAST)
    broken = malformed(app, tally)  # first: parse errors come before any login's lockout
    for operation in operations:
        exercise(operation, args.examples, tally)
    total = sum(tally.codes.values())
    fives = sum(n for code, n in tally.codes.items() if code >= 500)
    print(f"{total} requests to {len(operations)} operations in {time.monotonic() - started:.0f} s")
    print(f"of which {broken} malformed bodies (chunked, deep, huge numbers, invalid UTF-8)")
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
