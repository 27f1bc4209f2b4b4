"""Fixtures for agent tests: the replication fixtures (a center store, keys) reused."""

from __future__ import annotations

from tests.replication.conftest import center, local, signing_keys

__all__ = ["center", "local", "signing_keys"]
