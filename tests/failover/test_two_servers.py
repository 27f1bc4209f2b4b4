"""Two real servers on one database see the same silence: one `site.down`, one re-plan (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from fleetyard.services.wire import SiteReport, SpecFile
from tests.failover.fleetyaml import SITES, fleet_yaml
from tests.server.conftest import BACKENDS, ServerProcess

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_servers_act_once_on_a_silent_site(backend: str, new_database: Callable[[str], str | None],
                                               server_factory: Callable[..., ServerProcess]) -> None:
    env = {"FLEETYARD_FAILOVER": "true", "FLEETYARD_FAILOVER_GRACE": "2", "FLEETYARD_FAILOVER_HOLD_OFF": "600",
           "FLEETYARD_TICK_INTERVAL": "0.2", "FLEETYARD_HEARTBEAT_INTERVAL": "0.3"}
    first = server_factory(new_database(backend), "a", **env)
    db = first.db or f"sqlite:///{(first.data / 'fleetyard.db').absolute()}"
    second = server_factory(db, "b", **env)
    with first.client() as a, second.client(first.admin_token) as b:
        a.apply([SpecFile(name="fleet.yaml", content=fleet_yaml())])
        revision = a.plan().revision
        victim = next(x.site for x in a.plan().assignments if x.replicas)
        others = [s for s in SITES if s != victim]
        deadline = time.monotonic() + 120
        a.report(SiteReport(site=victim, agent_version="test", revision=revision))
        while not a.events(kind="plan.replanned"):  # the others keep heartbeating, through both servers
            assert time.monotonic() < deadline, "no re-plan"
            for i, site in enumerate(others):
                (a if i % 2 else b).report(SiteReport(site=site, agent_version="test", revision=revision))
            time.sleep(0.1)
        for _ in range(10):  # both servers keep ticking: still one decision and one plan
            for i, site in enumerate(others):
                (a if i % 2 else b).report(SiteReport(site=site, agent_version="test", revision=revision))
            time.sleep(0.3)
        kinds = [e.kind for e in b.events(limit=1000)]
        assert kinds == ["site.down", "plan.replanned"], kinds
        assert a.plan().revision == b.plan().revision == revision + 1
        assert all(x.site != victim for x in b.plan().assignments if x.replicas)
