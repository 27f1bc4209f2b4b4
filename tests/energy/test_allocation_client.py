"""`Client.cost`: the request it makes and the Allocation it reads (the route is the server's)."""

from __future__ import annotations

import httpx
import pytest

from fleetyard.energy.allocation import allocate, plan_usage
from fleetyard.services.client import ApiError, Client
from tests.energy import costfleet as cf
from tests.energy.costfleet import T0


def test_cost_asks_for_by_period_start_and_reads_the_allocation(tmp_path):
    fleet = cf.fleet(tmp_path)
    want = allocate(fleet, plan_usage(fleet, cf.plan(), T0, T0.replace(hour=3)), "site")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=want.model_dump_json())

    with Client("http://fleet.test", "tok", transport=httpx.MockTransport(answer)) as api:
        got = api.cost(by="label:tier", period="7d", start="2020-06-01T00:00:00Z")
        api.cost()
    assert got == want
    assert seen[0].url.path == "/api/v1/cost"
    assert dict(seen[0].url.params) == {"by": "label:tier", "period": "7d", "start": "2020-06-01T00:00:00Z"}
    assert dict(seen[1].url.params) == {"by": "team", "period": "30d"}
    assert seen[0].headers["authorization"] == "Bearer tok"


def test_a_422_is_an_api_error_with_the_servers_words():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": "by: expected one of team, label:KEY, site, workload"})

    with Client("http://fleet.test", None, transport=httpx.MockTransport(answer)) as api, \
            pytest.raises(ApiError, match="expected one of team") as caught:
        api.cost(by="x")
    assert caught.value.status == 422
