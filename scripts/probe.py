#!/usr/bin/env python3
"""Probe ``macrorig serve --sim`` as a hostile or careless client would.

Starts the daemon (data in a temporary folder, a free loopback port) and runs every
check in :data:`CHECKS` against it over real HTTP: a page on another port forging the
phone's requests, a rebound host name, callback URLs aimed at the rig itself, a logout
and a restart, guesses in parallel, malformed bodies.  Each check is a small function
``check(probe) -> str`` that returns what it saw (one line) and raises
:class:`ProbeFailed` (or AssertionError) when the rig let it through; add one with the
``@check`` decorator.  Exit status 1 when any check fails.

    python scripts/probe.py                 # every check
    python scripts/probe.py -k csrf -k host # only checks whose name contains these
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from rig_support import DaemonProcess, config_file, free_port

TOKEN = "probe-token-0123456789"
PLAN = {"start_mm": 10, "end_mm": 12, "count": 3, "settle_s": 0}


class ProbeFailed(AssertionError):
    """The rig let a hostile request through (the message says which)."""


@dataclass
class Probe:
    """What a check gets: the running daemon, and ways to restart it or start another."""

    root: Path
    daemon: DaemonProcess
    others: list[DaemonProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.daemon.url

    def client(self, **options: object) -> httpx.Client:
        """A plain client (no token) for the daemon."""
        return httpx.Client(base_url=self.url, timeout=30, **options)  # type: ignore[arg-type]

    def restart(self) -> None:
        """SIGTERM, then start again on the same data folder and port."""
        self.daemon.stop()
        self.daemon.start()

    def another(self, name: str, *args: str) -> DaemonProcess:
        """A second daemon on its own data folder (stopped at the end)."""
        folder = self.root / name
        folder.mkdir()
        other = DaemonProcess(
            config_file(folder),
            folder / "data",
            free_port(),
            env={"MACRORIG_TOKEN": TOKEN},
            args=args,
        ).start()
        self.others.append(other)
        return other

    def wait_out_lockout(self) -> None:
        """After deliberate wrong secrets: wait as long as the rig asks (Retry-After)."""
        for _ in range(20):
            r = self.daemon.http.get("/api/status")
            if r.status_code != 429:
                return
            time.sleep(float(r.headers.get("retry-after", "1")))
        raise ProbeFailed("the lockout did not end")


Check = Callable[[Probe], str]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def expect(status: int, response: httpx.Response, what: str) -> None:
    if response.status_code != status:
        raise ProbeFailed(
            f"{what}: HTTP {response.status_code}, expected {status}: {response.text[:200]}"
        )


@contextlib.contextmanager
def _logged_in(probe: Probe) -> Iterator[httpx.Client]:
    with probe.client() as phone:
        expect(200, phone.post("/api/login", json={"secret": TOKEN}), "login")
        yield phone


# -- the checks ---------------------------------------------------------------------------
@check
def csrf_from_another_port(probe: Probe) -> str:
    """The logged-in phone's browser, made to post by a page on the next port."""
    evil = f"http://127.0.0.1:{probe.daemon.port + 1}"
    with _logged_in(probe) as phone:
        forged = [
            ("/api/rail/home", {"Origin": evil, "Sec-Fetch-Site": "same-site"}),
            ("/api/rail/stop", {"Origin": evil}),
            ("/api/rail/marks/start", {"Sec-Fetch-Site": "cross-site"}),
            ("/api/logout", {"Origin": evil, "Sec-Fetch-Site": "same-site"}),
            ("/api/jobs", {"Origin": "null"}),
        ]
        for path, headers in forged:
            expect(403, phone.post(path, headers=headers, json={"plan": PLAN}), f"forged {path}")
        expect(200, phone.get("/api/status"), "still logged in")
        own = {"Origin": probe.url, "Sec-Fetch-Site": "same-origin"}
        expect(202, phone.post("/api/rail/home", headers=own), "the page's own home")
    return f"{len(forged)} forged cookie requests refused (403); the page's own accepted"


@check
def host_rebinding(probe: Probe) -> str:
    """A rebound name (with the token, and with --no-auth) and the names that must work."""
    rebound = {"Host": "rebind.attacker.example"}
    http = probe.daemon.http
    expect(400, http.get("/api/status", headers=rebound), "rebound Host, with token")
    expect(400, http.post("/api/rail/stop", headers=rebound), "rebound Host, POST")
    expect(200, http.get("/api/status", headers={"Host": "localhost"}), "Host localhost")
    open_rig = probe.another("no-auth", "--no-auth")
    with httpx.Client(base_url=open_rig.url, timeout=30) as anon:
        expect(400, anon.get("/api/status", headers=rebound), "--no-auth, rebound Host")
        form = {"Host": f"localhost:{open_rig.port}", "Origin": "http://localhost:9"}
        expect(403, anon.post("/api/rail/home", headers=form), "--no-auth, form from localhost:9")
        expect(200, anon.get("/api/status"), "--no-auth, 127.0.0.1")
    return "rebound Host refused with a token and with --no-auth (400); localhost served"


SSRF_TARGETS = [
    "http://127.0.0.1:8000/hook",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://127.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost/",
    "http://user:pass@192.168.1.20/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:8000/",
    "http://224.0.0.251/",
]


@check
def ssrf_targets(probe: Probe) -> str:
    for url in SSRF_TARGETS:
        r = probe.daemon.http.post("/api/jobs", json={"plan": PLAN, "callback_url": url})
        expect(422, r, f"callback_url {url}")
        if not r.json()["detail"].startswith("callback_url: "):
            raise ProbeFailed(f"callback_url {url}: unclear message {r.json()['detail']!r}")
    lan = {"plan": PLAN, "callback_url": "http://192.168.1.20:9/hook"}
    expect(201, probe.daemon.http.post("/api/jobs", json=lan), "a LAN callback")
    return f"{len(SSRF_TARGETS)} callback URLs aimed at the rig itself refused (422); LAN accepted"


@check
def logout_across_restart(probe: Probe) -> str:
    with _logged_in(probe) as phone, _logged_in(probe) as other:
        expect(200, phone.post("/api/logout", headers={"Origin": probe.url}), "logout")
        ended = phone.cookies.get("macrorig_session") or ""
        kept = other.cookies["macrorig_session"]
    probe.restart()
    with probe.client() as after:
        after.cookies.set("macrorig_session", ended or "x")
        expect(401, after.get("/api/status"), "the logged-out cookie after a restart")
        after.cookies.set("macrorig_session", kept)
        expect(200, after.get("/api/status"), "another phone's cookie after a restart")
    return "a logged-out cookie stays refused after a restart; other sessions survive"


@check
def parallel_guesses(probe: Probe) -> str:
    """20 wrong logins at once, each claiming another X-Forwarded-For; then bearer guesses."""

    def guess(i: int) -> int:
        with probe.client() as c:
            headers = {"X-Forwarded-For": f"198.51.100.{i}"}
            return c.post("/api/login", json={"secret": f"guess-{i}"}, headers=headers).status_code

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(guess, range(20)))
    spent = time.monotonic() - started
    checked = codes.count(401)
    if checked > 6 or codes.count(429) + checked != 20:
        raise ProbeFailed(f"20 parallel guesses: {checked} checked ({codes})")
    probe.wait_out_lockout()
    with probe.client() as c:
        wrong = {"Authorization": "Bearer not-the-token"}
        bearer = [c.get("/api/status", headers=wrong).status_code for _ in range(5)]
    if 429 not in bearer:
        raise ProbeFailed(f"bearer guesses never slowed: {bearer}")
    probe.wait_out_lockout()
    return (
        f"20 parallel wrong logins in {spent:.1f} s: {checked} checked, {20 - checked} refused "
        f"(429), X-Forwarded-For ignored; 5 bearer guesses: {bearer.count(401)} checked"
    )


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 16384):
        yield data[start : start + 16384]


@check
def malformed_requests(probe: Probe) -> str:
    http = probe.daemon.http
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("chunked 300 KB", _chunks(b" " * 300_000), 413),
        ("invalid UTF-8", b'{"plan": {"name": "\xff"}}', 400),
        ("100,000-deep JSON", b"[" * 100_000 + b"]" * 100_000, 400),
        ("5000-digit integer", b'{"plan": {"start_mm": ' + b"9" * 5000 + b"}}", 400),
    ]
    for name, body, status in cases:
        r = http.post("/api/jobs", content=body, headers=json_type)
        expect(status, r, name)
        if "int_max_str_digits" in r.text:
            raise ProbeFailed(f"{name}: Python's own message leaks: {r.text[:200]}")
    expect(400, http.get("/api/events", headers={"Last-Event-ID": "9" * 5000}), "Last-Event-ID")
    expect(422, http.post("/api/rail/move", json={"mm": 1e6}), "move outside the soft limits")
    expect(200, http.head("/"), "HEAD /")
    key = {"Idempotency-Key": "probe-1"}
    expect(201, http.post("/api/jobs", json={"plan": PLAN}, headers=key), "first use of a key")
    other = {"plan": {**PLAN, "count": 4}}
    expect(422, http.post("/api/jobs", json=other, headers=key), "the key, another body")
    expect(400, http.post("/api/jobs", json=other, headers={"Idempotency-Key": ""}), "empty key")
    for name in ("%20", "%7F", "%2E%2E"):
        expect(422, http.put(f"/api/presets/{name}", json={"plan": PLAN}), f"preset {name!r}")
    return f"{len(cases) + 8} malformed requests answered 400/413/422 with clear messages"


@check
def framing_headers(probe: Probe) -> str:
    for path in ("/", "/api/status"):
        headers = probe.daemon.http.get(path).headers
        if headers.get("x-frame-options") != "DENY" or "frame-ancestors 'none'" not in headers.get(
            "content-security-policy", ""
        ):
            raise ProbeFailed(f"{path}: framing allowed ({dict(headers)})")
    return "X-Frame-Options DENY, CSP frame-ancestors 'none', nosniff, no-referrer"


# -- running ------------------------------------------------------------------------------
def run(checks: list[Check]) -> int:
    failed = 0
    with tempfile.TemporaryDirectory(prefix="macrorig-probe-") as tmp:
        root = Path(tmp)
        daemon = DaemonProcess(
            config_file(root), root / "data", free_port(), env={"MACRORIG_TOKEN": TOKEN}
        )
        probe = Probe(root, daemon.start())
        try:
            for fn in checks:
                started = time.monotonic()
                try:
                    seen = fn(probe)
                    verdict = "ok  "
                except AssertionError as exc:
                    seen, verdict = str(exc), "FAIL"
                    failed += 1
                print(f"{verdict} {fn.__name__} ({time.monotonic() - started:.1f} s): {seen}")
                sys.stdout.flush()
        finally:
            for other in probe.others:
                with contextlib.suppress(Exception):
                    other.stop()
            daemon.stop()
    print(f"{len(checks)} checks, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("-k", action="append", default=[], help="run checks whose name has this")
    args = ap.parse_args()
    checks = [c for c in CHECKS if not args.k or any(k in c.__name__ for k in args.k)]
    if not checks:
        print("no check matches", file=sys.stderr)
        return 2
    return run(checks)


if __name__ == "__main__":
    sys.exit(main())
