"""The HTTP API of a rig in-process, for tests that talk to it as a client does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fastapi.testclient import TestClient

from rig.service import Rig
from web.app import create_app
from web.auth import Auth

TOKEN = "test-token-123"


@contextlib.contextmanager
def api_client(rig: Rig, token: str = TOKEN) -> Iterator[TestClient]:
    """A client of ``rig``'s app that sends the API token with every request."""
    with TestClient(create_app(rig, Auth(token=token))) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
