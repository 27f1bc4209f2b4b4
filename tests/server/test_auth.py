"""The auth matrix: every role x every endpoint class, on SQLite and PostgreSQL.

Allowed calls answer 2xx; a valid token without the role or site answers 403, an
unknown, expired, revoked, malformed or missing token 401 - and neither carries
anything but a one-line `detail`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fleetyard.services.wire import SiteReport
from tests.server.conftest import ServerProcess, fleet_files

ROLES = ("admin", "operator", "viewer", "agent", "other-agent")
BAD = ("none", "unknown", "expired", "revoked", "malformed")


@dataclass(frozen=True)
class Call:
    cls: str
    method: str
    path: str
    allowed: frozenset[str]
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()


def _calls() -> list[Call]:
    readers = frozenset({"admin", "operator", "viewer"})
    writers = frozenset({"admin", "operator"})
    objects = readers | {"agent", "other-agent"}
    report = SiteReport(site="fra-1", agent_version="test", revision=None).model_dump(mode="json")
    apply = {"files": [f.model_dump() for f in fleet_files()], "dry_run": True}
    return [
        Call("health", "GET", "/healthz", frozenset(ROLES) | set(BAD)),
        *(Call("read", "GET", p, readers) for p in (
            "/api/v1/resources/sites", "/api/v1/resources/sites/fra-1", "/api/v1/plan", "/api/v1/status",
            "/api/v1/models", "/api/v1/audit", "/api/v1/events", "/metrics", "/api/v1/metrics",
            "/api/v1/metrics/gpu_power_w", "/api/v1/metrics/replicas_running?site=fra-1&workload=chat-eu")),
        Call("apply", "POST", "/api/v1/apply", writers, json=apply),
        Call("delete", "DELETE", "/api/v1/resources/sites/sin-1?dry_run=true", writers),
        Call("desired", "GET", "/api/v1/sites/fra-1/desired", readers | {"agent"}),
        Call("heartbeat", "PUT", "/api/v1/sites/fra-1/status", frozenset({"admin", "agent"}), json=report),
        Call("registry-read", "GET", "/api/v1/registry/objects?prefix=", objects),
        Call("registry-read", "GET", "/api/v1/registry/objects/fleetyard-registry.json", objects),
        Call("registry-read", "HEAD", "/api/v1/registry/objects/fleetyard-registry.json", objects),
        Call("registry-write", "PUT", "/api/v1/registry/objects/leases/auth-test.json", writers),
        Call("registry-admin", "DELETE", "/api/v1/registry/objects/versions/none/1.json", frozenset({"admin"})),
        Call("tokens", "GET", "/api/v1/tokens", frozenset({"admin"})),
        Call("tokens", "POST", "/api/v1/tokens", frozenset({"admin"}), json={"role": "viewer"}),
    ]


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> Iterator[dict[str, str | None]]:
    with server.client() as api:
        out: dict[str, str | None] = {"admin": server.admin_token}
        out["operator"] = api.create_token("operator").token
        out["viewer"] = api.create_token("viewer").token
        out["agent"] = api.create_token("agent", "fra-1").token
        out["other-agent"] = api.create_token("agent", "par-1").token
        expired = api.create_token("viewer", ttl_hours=0.0002)  # 0.72 s
        revoked = api.create_token("admin")
        api.revoke_token(revoked.id)
        out |= {"none": None, "unknown": "fy_" + "x" * 43, "expired": expired.token, "revoked": revoked.token,
                "malformed": "x"}
    time.sleep(1.0)
    yield out


def _headers(who: str, secret: str | None) -> dict[str, str]:
    if secret is None:
        return {}
    if who == "malformed":
        return {"Authorization": f"Basic {secret}"}
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("who", ROLES + BAD)
def test_auth_matrix(server: ServerProcess, tokens: dict[str, str | None], who: str) -> None:
    failures = []
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for call in _calls():
            r = http.request(call.method, call.path, json=call.json, headers=_headers(who, tokens[who]))
            if who in call.allowed:
                ok = 200 <= r.status_code < 300
                expected = "2xx"
            else:
                expected = "401" if who in BAD else "403"
                ok = str(r.status_code) == expected
                if ok and call.method != "HEAD":
                    body = r.json()
                    ok = body.keys() == {"detail", "problems"} and body["problems"] == [] and len(r.content) < 300
                if ok and expected == "401":
                    ok = r.headers.get("www-authenticate") == "Bearer"
            if not ok:
                failures.append(f"{call.cls} {call.method} {call.path}: {r.status_code} (want {expected}) "
                                f"{r.text[:120]}")
    assert failures == []


def test_agent_writes_only_its_own_site(server: ServerProcess, tokens: dict[str, str | None]) -> None:
    report = SiteReport(site="par-1", agent_version="test", revision=None).model_dump(mode="json")
    with httpx.Client(base_url=server.url) as http:
        r = http.put("/api/v1/sites/fra-1/status", json=report, headers=_headers("agent", tokens["agent"]))
        assert r.status_code == 422 and "sent to site 'fra-1'" in r.json()["detail"]
        r = http.put("/api/v1/sites/par-1/status", json=report, headers=_headers("agent", tokens["agent"]))
        assert r.status_code == 403


def test_token_changes_are_audited(server: ServerProcess, tokens: dict[str, str | None]) -> None:
    with server.client() as api:
        entries = api.audit(200)
    created = [e for e in entries if e.action == "token.create"]
    revoked = [e for e in entries if e.action == "token.revoke"]
    assert len(created) >= 6 and len(revoked) == 1
    assert all("token" not in (e.after or {}) for e in created)  # the secret is never stored
    assert revoked[0].before["role"] == "admin"  # type: ignore[index]


def test_heartbeat_checks_the_token_before_the_body(server: ServerProcess, tokens: dict[str, str | None]) -> None:
    bad = {"site": "fra-1", "agent_version": 7}
    with httpx.Client(base_url=server.url) as http:
        r = http.put("/api/v1/sites/fra-1/status", json=bad)
        assert r.status_code == 401 and r.json()["problems"] == []
        r = http.put("/api/v1/sites/fra-1/status", json=bad, headers=_headers("viewer", tokens["viewer"]))
        assert r.status_code == 403
        r = http.put("/api/v1/sites/fra-1/status", json=bad, headers=_headers("agent", tokens["agent"]))
        assert r.status_code == 422
        assert {p["path"] for p in r.json()["problems"]} == {"body.agent_version", "body.revision"}
        r = http.put("/api/v1/sites/fra-1/status", content=b"{not json", headers=_headers("agent", tokens["agent"]))
        assert r.status_code == 422
