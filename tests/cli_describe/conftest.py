"""describe / watch / diff / plan history tests reuse the real-server fixtures of tests/server."""

from __future__ import annotations

from tests.server.conftest import new_database, postgres, server, server_factory

__all__ = ["new_database", "postgres", "server", "server_factory"]
