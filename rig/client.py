"""A small client for a running daemon's HTTP API (used by ``macrorig trigger`` and by
``macrorig rail`` while the daemon owns the rail)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from rig.config import Config
from rig.data_layout import DataLayout


class ClientError(Exception):
    """The daemon could not be reached or refused (message says why)."""


def daemon_url(config: Config) -> str:
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{config.server.port}"


def local_token(data_dir: Path) -> str:
    token = os.environ.get("MACRORIG_TOKEN")
    if token:
        return token.strip()
    path = DataLayout(data_dir).api_token
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ClientError(
            f"cannot read the API token in {path} ({exc.strerror}); set MACRORIG_TOKEN"
        ) from None


def checked_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`ClientError` saying what to give."""
    example = "e.g. http://rigpi.local:8000"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ClientError(f"{url!r} is not a valid URL ({exc}); {example}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ClientError(f"{url!r}: give the rig's address with http:// or https://, {example}")
    return url.rstrip("/")


class Client:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = checked_url(url)
        try:
            self._http = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
            )
        except (httpx.InvalidURL, ValueError) as exc:  # e.g. a token no header can carry
            raise ClientError(f"cannot talk to {self.url}: {exc}") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(f"cannot reach the macrorig daemon at {self.url} ({exc})") from None
        if response.status_code == 401:
            raise ClientError("the daemon refused the token (check --token or MACRORIG_TOKEN)")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ClientError(f"{detail} (HTTP {response.status_code})")
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:  # not JSON (or not UTF-8): something else answers at this address
            raise ClientError(
                f"{self.url} answered {method} {path} with something that is not JSON "
                f"(HTTP {response.status_code}): is it a macrorig daemon?"
            ) from None

    def submit(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """POST /api/jobs; retried on connection trouble with the same key, so never twice."""
        key = idempotency_key or str(uuid.uuid4())
        last: ClientError | None = None
        for attempt in range(3):
            try:
                job = self.request("POST", "/api/jobs", json=body, headers={"Idempotency-Key": key})
                if not isinstance(job, dict) or not isinstance(job.get("id"), str):
                    raise ClientError(
                        f"{self.url} answered without a job: is it a macrorig daemon?"
                    )
                return job
            except ClientError as exc:
                if "cannot reach" not in str(exc):
                    raise
                last = exc
                time.sleep(1.0 * (attempt + 1))
        assert last is not None
        raise last

    def follow(self, job_id: str, poll_s: float = 1.0) -> Iterator[dict[str, Any]]:
        """The job, each time its progress changes, until it ends."""
        seen: tuple[Any, ...] | None = None
        while True:
            job: dict[str, Any] = self.request("GET", f"/api/jobs/{job_id}")
            progress = job.get("progress") or {}
            key = (job["state"], job["frames_done"], progress.get("fused"))
            if key != seen:
                seen = key
                yield job
            if job["final"]:
                return
            time.sleep(poll_s)

    def wait_rail_idle(self, timeout: float = 600.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status: dict[str, Any] = self.request("GET", "/api/rail")
            if not status.get("busy") and not status.get("moving"):
                return status
            if time.monotonic() > deadline:
                raise ClientError("the rail is still moving")
            time.sleep(0.1)
