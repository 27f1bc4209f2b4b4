"""Fixtures for agent tests: the replication fixtures (a center store, keys) reused."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from tests.replication.conftest import center, local, signing_keys

__all__ = ["center", "local", "signing_keys"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A failed test with a `site` fixture (tests/agent/rollout_site.py) shows the end of its agent's log,
    so a test that times out on a busy machine says what the agent was doing."""
    outcome = yield
    report = outcome.get_result()
    site = getattr(item, "funcargs", {}).get("site")
    log = getattr(site, "log", None)
    if report.when == "call" and report.failed and isinstance(log, Path) and log.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-80:]
        report.sections.append(("agent log (last 80 lines)", "\n".join(tail)))
