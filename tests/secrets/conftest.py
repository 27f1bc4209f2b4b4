"""Fixtures for the secrets tests: the real server as a process, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.server.conftest import new_database, postgres, server_factory

__all__ = ["new_database", "postgres", "server_factory"]
