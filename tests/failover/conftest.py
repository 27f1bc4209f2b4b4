"""Failover tests reuse the server fixtures (PostgreSQL databases, backends)."""

from __future__ import annotations

from tests.server.conftest import new_database, postgres

__all__ = ["new_database", "postgres"]
