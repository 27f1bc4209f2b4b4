"""The dashboard tests reuse the control plane's server fixtures (tests/server/conftest.py)."""

from __future__ import annotations

from tests.server.conftest import postgres, server, server_factory  # noqa: F401  (fixtures)
