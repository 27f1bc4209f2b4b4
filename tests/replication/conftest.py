"""Fixtures: a center registry with two versions of a small signed model, and keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetyard.registry import Store, open_store, push
from tests.replication.models import write_keys, write_model


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = write_keys(d, "signing")
    opriv, opub = write_keys(d, "other")
    return {"key": priv, "pub": pub, "other": opriv, "other.pub": opub}


@pytest.fixture
def center(tmp_path: Path, signing_keys: dict[str, Path]) -> Store:
    """A registry holding m:1 and m:2 (m:2 changes 2 of 8 tensors), both signed."""
    store = open_store(tmp_path / "center", create=True)
    push(store, write_model(tmp_path / "v1"), "m", "1", key=signing_keys["key"], workers=1)
    push(store, write_model(tmp_path / "v2", edit=2), "m", "2", key=signing_keys["key"], parent="m:1", workers=1)
    return store


@pytest.fixture
def local(tmp_path: Path) -> Store:
    return open_store(tmp_path / "site" / "registry", create=True)
