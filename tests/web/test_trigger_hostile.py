"""``macrorig trigger`` given careless input or a server that is not a rig: one line on
stderr, exit 2, never a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rig.cli import main


def trigger(capsys, *argv: str) -> tuple[int, str]:
    code = main(["trigger", "--token", "t", *argv])
    _, err = capsys.readouterr()
    return code, err


def assert_one_line(code: int, err: str, expected: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], err
    assert "Traceback" not in err


class NotARig(BaseHTTPRequestHandler):
    """Answers every POST with 200 and an HTML page, as a router's login page would."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def not_a_rig() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), NotARig)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://[::1", "not a valid URL"),
        ("rigpi.local:8000", "with http:// or https://"),
        ("127.0.0.1:8000", "with http:// or https://"),
        ("ftp://rig/", "with http:// or https://"),
        ("http://", "with http:// or https://"),
    ],
)
def test_a_bad_url_is_one_line_not_cannot_reach(capsys, url, fragment):
    code, err = trigger(capsys, "--url", url, "--preset", "x")
    assert_one_line(code, err, fragment)
    assert "cannot reach" not in err


def test_a_plan_file_that_is_not_utf8_is_one_line(capsys, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_bytes(b'{"start_mm": \xff\xfe}')
    code, err = trigger(capsys, "--url", "http://127.0.0.1:9", "--plan", str(plan))
    assert_one_line(code, err, "not a text file")


@pytest.mark.slow
def test_an_answer_that_is_not_json_is_one_line(capsys, not_a_rig):
    code, err = trigger(capsys, "--url", not_a_rig, "--preset", "x")
    assert_one_line(code, err, "not JSON")
