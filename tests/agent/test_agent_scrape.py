"""An agent's /metrics with a `scrape` token (issue 13): a real server, a real agent process; the
agent checks the token with the server (`GET /api/v1/whoami`) and lets Prometheus in, while the
same token reads no registry object from the agent's relay."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from fleetyard.agent.localfleet import LocalFleet, write_model
from tests.agent.fleetspec import write_fleet

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    root = tmp_path_factory.mktemp("scrape")
    f = LocalFleet(root, heartbeat=0.5)
    try:
        f.start_server()
        write_fleet(root / "spec", {"k-1": (50.11, 8.68)}, "n:1")
        f.push(write_model(root / "v1", version=1, tensors=4), "n", "1")
        f.apply(root / "spec")
        f.start_agent("k-1")
        f.wait_for(lambda st: any(s.site == "k-1" and s.last_heartbeat for s in st.sites), "k-1 reports")
        yield f
    finally:
        f.close()


def _get(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(50):  # the listener may still be starting
        try:
            return httpx.get(url, headers=headers, timeout=10)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_scrape_token_reads_agent_metrics_but_not_registry_objects(fleet: LocalFleet) -> None:
    agent = fleet.agents["k-1"]
    scrape = fleet.client.create_token("scrape", description="prometheus").token
    viewer = fleet.client.create_token("viewer").token
    metrics = _get(f"{agent.url}/metrics", scrape)
    assert metrics.status_code == 200 and "fleetyard_agent" in metrics.text
    assert _get(f"{agent.url}/metrics", viewer).status_code == 200
    assert _get(f"{agent.url}/metrics", fleet.agent_token("k-1")).status_code == 200
    objects = _get(f"{agent.url}/api/v1/registry/objects?prefix=", scrape)
    assert objects.status_code == 401, objects.text
    assert _get(f"{agent.url}/api/v1/registry/objects?prefix=", viewer).status_code == 200
    assert _get(f"{agent.url}/metrics", "not-a-token").status_code == 401
    assert _get(f"{agent.url}/metrics", None).status_code == 401


def test_a_revoked_scrape_token_is_refused_by_a_new_agent_cache(fleet: LocalFleet) -> None:
    created = fleet.client.create_token("scrape")
    fleet.client.revoke_token(created.id)
    assert _get(f"{fleet.agents['k-1'].url}/metrics", created.token).status_code == 401
