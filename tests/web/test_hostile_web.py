"""Hostile and careless web clients (issue 12): SSRF through callback_url, CSRF from
another port, DNS rebinding, logout across a restart, guessing in parallel, malformed
bodies, idempotency keys, framing headers, preset names."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import httpx
import pytest
from fastapi.testclient import TestClient
from rig_support import Watcher, running_rig

from rig import net_guard
from rig.events import EventBus
from rig.jobs.callbacks import CallbackSender
from rig.net_guard import AddressPolicy, UnsafeTarget, vet_url
from rig.preset_names import name_problem
from rig.store import Store
from web.app import create_app
from web.auth import Auth
from web.daemon import proxy_options
from web.host_check import HostPolicy
from web.lockout import Lockout, client_key

TOKEN = "hostile-token-1"
PLAN = {"start_mm": 10, "end_mm": 12, "count": 3, "settle_s": 0}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def app(rig, clock):
    return create_app(
        rig, Auth(token=TOKEN, password="correct horse", lockout=Lockout(clock=clock))
    )


@pytest.fixture
def client(app):
    with TestClient(app, headers=BEARER) as c:
        yield c


@pytest.fixture
def phone(app):
    """The page's browser: logged in with a session cookie, no bearer token."""
    with TestClient(app) as c:
        assert c.post("/api/login", json={"secret": TOKEN}).status_code == 200
        yield c


# -- 4: callback_url SSRF -----------------------------------------------------------------
REFUSED_TARGETS = [
    "http://127.0.0.1:8000/hook",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://127.1/",
    "http://[::1]:8000/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://0.0.0.0:8000/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://user:pass@192.168.1.20/hook",
    "ftp://192.168.1.20/",
]


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_callback_targets_on_this_machine_or_metadata_are_refused(url):
    with pytest.raises(UnsafeTarget, match="callback_url: "):
        vet_url(url, AddressPolicy())


@pytest.mark.parametrize(
    "url", ["http://192.168.1.20:9000/hook", "https://10.0.0.5/x", "http://203.0.113.9/"]
)
def test_callback_targets_on_the_lan_or_the_internet_are_fine(url):
    target = vet_url(url, AddressPolicy())
    assert ipaddress.ip_address(target.address) == ipaddress.ip_address(httpx.URL(url).host)


def test_every_address_a_name_resolves_to_is_checked():
    """A name with one LAN and one loopback address is refused: the connection could
    go to either."""
    policy = AddressPolicy(resolve=lambda host, port: ["192.168.1.7", "127.0.0.1"])
    with pytest.raises(UnsafeTarget, match=r"'hooks.example' is 127.0.0.1, a loopback"):
        vet_url("http://hooks.example/x", policy)


def test_the_allow_list_lets_chosen_hosts_and_networks_through():
    assert vet_url("http://127.0.0.1:9/", AddressPolicy.of(["127.0.0.0/8"])).address == "127.0.0.1"
    assert vet_url("http://localhost:9/", AddressPolicy.of(["LocalHost"])).host == "localhost"
    with pytest.raises(UnsafeTarget):
        vet_url("http://[::1]:9/", AddressPolicy.of(["127.0.0.0/8"]))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://[::1]/", "http://a:b@10.1.1.1/"]
)
def test_submitting_a_job_with_an_unsafe_callback_is_a_422(client, url):
    r = client.post("/api/jobs", json={"plan": PLAN, "callback_url": url})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("callback_url: ")
    assert client.get("/api/jobs").json() == []


class _Receiver(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str]]] = []  # (path, Host)
    redirect_to: ClassVar[str | None] = None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((self.path, self.headers["Host"]))
        if type(self).redirect_to and self.path == "/hook":
            self.send_response(307)
            self.send_header("Location", type(self).redirect_to)
        else:
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.requests, _Receiver.redirect_to = [], None
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def outbox(tmp_path):
    store = Store(tmp_path / "macrorig.db")
    yield store
    store.close()


def deliver(store: Store, policy: AddressPolicy, job_id: str, url: str) -> dict:
    """Queue one callback, make one delivery pass, and return how it went."""
    sender = CallbackSender(EventBus(), store, policy=policy, clock=lambda: 0.0)
    store.add_callback(job_id, url, {"id": job_id, "state": "done"}, 0.0)
    sender.deliver_due()
    return store.callbacks(job_id)[0]


@pytest.mark.slow
def test_delivery_checks_the_address_again_and_posts_to_the_vetted_one(outbox, receiver):
    """DNS may answer differently at delivery than at submission: the sender resolves
    again, refuses what is now loopback, and otherwise connects to the address it
    vetted (the receiver sees the URL's own name as Host)."""
    answers = {"hooks.lab": ["127.0.0.1"]}
    url = f"http://hooks.lab:{receiver}/hook"
    now_loopback = AddressPolicy(resolve=lambda host, port: answers[host])
    refused = deliver(outbox, now_loopback, "job-1", url)
    assert _Receiver.requests == []  # now loopback: not sent, not retried
    assert refused["given_up"] is not None and "loopback" in refused["last_error"]
    # Allowed by name: posted to the resolved address, no lookup of its own.
    allowed = AddressPolicy.of(["hooks.lab"], resolve=lambda host, port: answers[host])
    sent = deliver(outbox, allowed, "job-2", url)
    assert _Receiver.requests == [("/hook", f"hooks.lab:{receiver}")]
    assert sent["last_status"] == 204 and sent["delivered"] is not None


@pytest.mark.slow
def test_a_redirect_is_not_followed(outbox, receiver):
    _Receiver.redirect_to = "http://169.254.169.254/latest/meta-data/"
    local = AddressPolicy.of(["127.0.0.1"])
    sent = deliver(outbox, local, "job-2", f"http://127.0.0.1:{receiver}/hook")
    assert [path for path, _ in _Receiver.requests] == ["/hook"]
    assert sent["last_status"] == 307


def test_the_pinned_request_keeps_the_name_for_tls():
    target = net_guard.Target("https://hooks.lab:8443/x?y=1", "hooks.lab", ("192.0.2.4",))
    options = target.request_options()
    assert str(options["url"]) == "https://192.0.2.4:8443/x?y=1"
    assert options["headers"] == {"Host": "hooks.lab:8443"}
    assert options["extensions"] == {"sni_hostname": "hooks.lab"}


# -- 5: CSRF from another port of the same host -------------------------------------------
FORGED = [
    {"Origin": "http://testserver:18802"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver:18802"},
    {"Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.slow
@pytest.mark.parametrize("headers", FORGED)
@pytest.mark.parametrize("path", ["/api/rail/home", "/api/rail/stop", "/api/logout"])
def test_a_cookie_request_from_another_origin_is_refused(phone, headers, path):
    r = phone.post(path, headers=headers)
    assert r.status_code == 403, (path, headers, r.status_code)
    assert "another site" in r.json()["detail"]
    assert phone.get("/api/status").status_code == 200  # still logged in


def test_a_cross_site_login_is_refused(app):
    with TestClient(app) as anon:
        r = anon.post("/api/login", json={"secret": TOKEN}, headers={"Origin": "http://evil"})
        assert r.status_code == 403 and "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        {"Sec-Fetch-Site": "none"},
        {},  # no browser: curl with the cookie
    ],
)
def test_the_page_itself_and_non_browsers_are_served(phone, headers):
    assert phone.post("/api/rail/home", headers=headers).status_code == 202


def test_bearer_requests_are_not_checked_for_origin(client):
    r = client.post("/api/rail/home", headers={"Origin": "http://elsewhere:1"})
    assert r.status_code == 202


# -- 6: Host header (DNS rebinding) ---------------------------------------------------------
def test_no_auth_answers_only_to_loopback_names(rig):
    app = create_app(rig, Auth(token=TOKEN, enabled=False))
    for host, status in [
        ("rebind.attacker.example", 400),
        ("rebind.attacker.example:8000", 400),
        ("192.168.1.5", 400),
        (socket.gethostname(), 400),
        ("localhost:8000", 200),
        ("LOCALHOST.", 200),
        ("127.0.0.1:8000", 200),
        ("[::1]:8000", 200),
    ]:
        with TestClient(app, base_url=f"http://{host}") as c:
            r = c.get("/api/status")
            assert r.status_code == status, (host, r.status_code)
            r = c.post("/api/rail/stop")
            assert r.status_code == status, host
    with TestClient(app, base_url="http://rebind.attacker.example") as c:
        assert "--no-auth" in c.get("/").json()["detail"]


def test_with_auth_the_machine_s_names_addresses_and_configured_hosts_are_served():
    policy = HostPolicy.for_server(["rig.lab"], loopback_only=False)
    machine = socket.gethostname()
    for host in (
        machine,
        f"{machine}.local:8000",
        "rig.lab",
        "RIG.LAB.",
        "10.1.2.3:80",
        "[fe80::1]",
    ):
        assert policy.problem(host) is None, host
    for host in ("rebind.attacker.example", "rig.lab.attacker.example", "x:y", "[::1", ""):
        assert policy.problem(host) is not None, host
    assert "[server] hosts" in (policy.problem("evil.example") or "")


# -- 7: logout survives a restart -------------------------------------------------------------
def test_a_logged_out_cookie_stays_logged_out_after_a_restart(tmp_path):
    with (
        running_rig(tmp_path) as rig,
        TestClient(create_app(rig, Auth(TOKEN, ended=rig.store))) as c,
    ):
        assert c.post("/api/login", json={"secret": TOKEN}).status_code == 200
        cookie = c.cookies["macrorig_session"]
        kept = Auth(TOKEN).new_session()  # another phone, still logged in
        assert c.post("/api/logout").status_code == 200
    with (
        running_rig(tmp_path) as rig,
        TestClient(create_app(rig, Auth(TOKEN, ended=rig.store))) as c,
    ):
        c.cookies["macrorig_session"] = cookie
        assert c.get("/api/status").status_code == 401
        c.cookies["macrorig_session"] = kept
        assert c.get("/api/status").status_code == 200


# -- 8: guessing in parallel, bearer guesses, proxy headers -----------------------------------
def test_parallel_wrong_logins_share_one_lockout(app, clock):
    async def guesses(n: int) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answers = await asyncio.gather(
                *(c.post("/api/login", json={"secret": f"guess-{i}"}) for i in range(n))
            )
        return [r.status_code for r in answers]

    codes = asyncio.run(guesses(8))
    # The first failure is free (a typo), the second locks: six refused unchecked.
    assert sorted(codes) == [401, 401] + [429] * 6
    assert asyncio.run(guesses(4)) == [429] * 4  # the clock has not moved: still locked
    clock.now += 0.3
    assert sorted(asyncio.run(guesses(4))) == [401, 429, 429, 429]
    assert app.state.auth.lockout.failures("127.0.0.1") == 3


def test_the_right_secret_waits_out_the_lockout_too(app, clock):
    with TestClient(app) as c:
        for _ in range(2):  # a typo is free, the second wrong one locks
            assert c.post("/api/login", json={"secret": "wrong"}).status_code == 401
        locked = c.post("/api/login", json={"secret": TOKEN})
        assert locked.status_code == 429 and locked.headers["retry-after"] == "1"
        assert "try again in 1 s" in locked.json()["detail"]
        clock.now += 1
        assert c.post("/api/login", json={"secret": TOKEN}).status_code == 200


def test_wrong_bearer_tokens_are_slowed_like_logins(app, clock):
    with TestClient(app) as c:
        wrong = {"Authorization": "Bearer guess-1"}
        assert c.get("/api/status", headers=wrong).status_code == 401
        assert c.get("/api/status", headers=wrong).status_code == 401
        assert c.get("/api/status", headers=wrong).status_code == 429
        assert c.get("/api/status", headers=BEARER).status_code == 429  # no guessing meanwhile
        clock.now += 0.3
        assert c.get("/api/status", headers=BEARER).status_code == 200
        assert c.get("/api/status").status_code == 401  # no credentials: not a guess
        assert c.get("/api/status").status_code == 401


def test_the_pause_doubles_up_to_a_limit():
    lockout = Lockout(clock=FrozenClock(), max_pause_s=4)
    assert [lockout.failed("a") for _ in range(7)] == [0, 0.25, 0.5, 1, 2, 4, 4]
    lockout.forgive("a")
    assert lockout.wait_s("a") == 0


def test_failures_count_against_an_ipv6_clients_whole_64():
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:2") == "2001:db8::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"


def test_x_forwarded_for_is_believed_only_from_configured_proxies():
    assert proxy_options(()) == {"proxy_headers": False}
    assert proxy_options(("10.0.0.2",)) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.2"],
    }


# -- 10: statuses for malformed requests ------------------------------------------------------
def _chunks(total: int, size: int = 16384):
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_a_chunked_body_over_the_limit_is_a_413(client):
    r = client.post(
        "/api/jobs", content=_chunks(300_000), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413 and "256 KiB" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"plan": {"name": "\xff\xfe"}}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"plan": {"start_mm": ' + b"9" * 5000 + b"}}", "more than 4300 digits"),
        (b'{"plan": ', "not valid JSON"),
    ],
)
def test_an_unreadable_body_is_a_400_that_says_why(client, body, fragment):
    r = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert fragment in r.json()["detail"]
    assert "sys." not in r.text and "int_max_str_digits" not in r.text


def test_a_huge_last_event_id_is_a_clear_400(client):
    r = client.get("/api/events", headers={"Last-Event-ID": "9" * 5000})
    assert r.status_code == 400 and "Last-Event-ID" in r.json()["detail"]
    assert "int_max_str_digits" not in r.text and "Exceeds the limit" not in r.text
    superscript = {"Last-Event-ID": "²".encode()}  # a digit to str.isdigit(), not to int()
    assert client.get("/api/events", headers=superscript).status_code == 400


def test_a_move_outside_the_soft_limits_is_a_422_like_a_plan(client):
    r = client.post("/api/rail/move", json={"mm": 80})
    assert r.status_code == 422 and "soft limits" in r.json()["detail"]
    assert client.post("/api/rail/jog", json={"mm": 900}).status_code == 422


def test_head_of_the_page_is_a_200(client):
    r = client.head("/")
    assert r.status_code == 200 and r.content == b""


# -- 11: idempotency keys ---------------------------------------------------------------------
@pytest.mark.slow
def test_an_idempotency_key_reused_with_another_body_is_a_422(client):
    key = {"Idempotency-Key": "bench-42"}
    first = client.post("/api/jobs", json={"plan": PLAN}, headers=key)
    assert first.status_code == 201
    other = client.post("/api/jobs", json={"plan": {**PLAN, "count": 4}}, headers=key)
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    same = client.post("/api/jobs", json={"plan": PLAN}, headers=key)
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    hooked = {"plan": PLAN, "callback_url": "http://192.168.1.9/hook"}
    assert client.post("/api/jobs", json=hooked, headers=key).status_code == 422


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_idempotency_key_is_a_400(client, key):
    r = client.post("/api/jobs", json={"plan": PLAN}, headers={"Idempotency-Key": key})
    assert r.status_code == 400 and "Idempotency-Key is empty" in r.json()["detail"]
    assert client.get("/api/jobs").json() == []


# -- 14: framing and other headers ------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/status", "/api/nope", "/docs"])
def test_every_answer_forbids_framing_and_sniffing(client, path):
    headers = client.get(path).headers
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cross-origin-resource-policy"] == "same-origin"  # no embedding elsewhere


def test_without_a_login_other_sites_still_cannot_embed_what_the_rig_serves(rig):
    """--no-auth has no SameSite cookie to keep a page on another site from showing
    the rig's preview or results in an <img>: the browser is told not to."""
    app = create_app(rig, Auth(token=TOKEN, enabled=False))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        for path in ("/api/status", "/api/camera/preview.jpg", "/"):
            r = c.get(path)
            assert r.status_code == 200, path
            assert r.headers["cross-origin-resource-policy"] == "same-origin", path


def test_the_page_may_load_only_its_own_scripts(client):
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy


# -- 15: preset names --------------------------------------------------------------------------
BAD_NAMES = [" ", "\x7f", "..", ".", "a/b", "a\\b", " bee", "bee ", "bee\u202e", "a\x00b", "x" * 81]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_preset_name_that_is_not_a_name_is_refused(name):
    assert name_problem(name) is not None


@pytest.mark.parametrize("name", ["bee", "Bee 2x, f/8".replace("/", "-"), "käfer…", "a..b", "ß"])
def test_ordinary_preset_names_are_fine(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name", [" ", "%7F", "..%20", "bee%E2%80%AE"])
def test_saving_a_preset_under_a_bad_name_is_a_422(client, name):
    r = client.put(f"/api/presets/{name}", json={"plan": PLAN})
    assert r.status_code == 422, (name, r.status_code)
    assert "use 1–80 visible characters" in r.json()["detail"]
    assert client.get("/api/presets").json() == []


@pytest.mark.slow
def test_a_job_ends_normally_with_all_the_checks_in_place(rig, client):
    """The checks refuse only what they should: a whole job still runs."""
    watcher = Watcher(rig)
    job = client.post("/api/jobs", json={"plan": PLAN}).json()
    assert watcher.job_state(job["id"], "done", "failed")["state"] == "done"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
