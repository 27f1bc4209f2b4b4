"""A live server per database for the API robustness suite (schemathesis, fault injection).

The server is the real `python -m fleetyard server` process of tests/server/conftest.py,
with the test fleet applied and one small model pushed, so the read routes have
something to answer with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetyard.registry import push
from fleetyard.services.http_backend import open_remote_store
from tests.server.conftest import (  # noqa: F401 (fixtures used by this folder's tests)
    BACKENDS,
    ServerProcess,
    fleet_files,
    new_database,
    postgres,
    server_factory,
)
from tests.server.models import write_model


@dataclass
class Live:
    backend: str
    server: ServerProcess
    admin: str
    admin_id: str
    viewer: str
    viewer_id: str

    @property
    def protected(self) -> set[str]:
        """The ids of the tokens the tests call with."""
        return {self.admin_id, self.viewer_id}


@pytest.fixture(scope="module", params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = request.getfixturevalue("postgres").new_database() if request.param == "postgres" else None
    base: Path = tmp_path_factory.mktemp(f"live-{request.param}")
    server = ServerProcess(base / "server", db).start()
    try:
        admin = server.admin_token
        with server.client() as api:
            api.apply(fleet_files())
            admin_id = api.tokens()[0].id
            viewer = api.create_token("viewer", description="schemathesis viewer")
        store = open_remote_store(server.url, admin)
        try:
            push(store, write_model(base / "model", seed=1, shards=1, rows=16), "tiny-llm", "1", workers=1)
        finally:
            store.backend.close()  # type: ignore[attr-defined]
        yield Live(request.param, server, admin, admin_id, viewer.token, viewer.id)
    finally:
        server.stop()
