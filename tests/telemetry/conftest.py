"""Telemetry tests reuse the server fixtures (PostgreSQL databases, backends, server processes)."""

from __future__ import annotations

from tests.server.conftest import new_database, postgres, server, server_factory

__all__ = ["new_database", "postgres", "server", "server_factory"]
