"""A site's relay serves its local registry to peers over the server's object routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetyard.agent.metrics import AgentMetrics
from fleetyard.agent.relay import Relay, TokenCache, TokenCheckUnavailable
from fleetyard.registry import Store, copy_version, open_store, pull, verify_store
from fleetyard.replication import ByteLedger, MeteredBackend, Source, sync_version
from fleetyard.services.http_backend import HttpBackend, RemoteAuthError
from tests.replication.models import tree

TOKENS = {"fy_peer": True}


def check(token: str) -> bool:
    if token == "fy_unreachable":
        raise TokenCheckUnavailable("connection refused")
    return TOKENS.get(token, False)


@pytest.fixture
def relay(center: Store, tmp_path: Path) -> Iterator[tuple[Relay, Store]]:
    site = open_store(tmp_path / "fra-1" / "registry", create=True)
    copy_version(center, site, "m:1")
    (tmp_path / "fra-1" / "registry" / "tmp" / "half.pack").write_bytes(b"partial")
    r = Relay(tmp_path / "fra-1" / "registry", "127.0.0.1", 0, TokenCache(check), AgentMetrics())
    r.start()
    yield r, site
    r.stop()


def test_a_peer_syncs_from_the_relay_with_the_same_http_backend(relay: tuple[Relay, Store], tmp_path: Path,
                                                               signing_keys: dict[str, Path]) -> None:
    r, _ = relay
    peer = HttpBackend(f"http://127.0.0.1:{r.port}", "fy_peer")
    local = open_store(tmp_path / "fra-2", create=True)
    ledger = ByteLedger()
    result = sync_version("m:1", [Source("fra-1", MeteredBackend(peer, "fra-1", ledger), "peer")], local)
    assert result.outcome == "synced", result.error
    assert set(ledger.snapshot()) == {"fra-1"}
    assert verify_store(local).ok
    pull(local, "m:1", tmp_path / "out", public_key=signing_keys["pub"])
    assert tree(tmp_path / "out") == tree(tmp_path / "v1")
    assert r.metrics.bytes_served._value.get() >= result.chunk_bytes  # type: ignore[attr-defined]
    peer.close()


def test_ranges_listing_and_what_is_never_served(relay: tuple[Relay, Store]) -> None:
    r, _ = relay
    base = f"http://127.0.0.1:{r.port}/api/v1/registry/objects"
    auth = {"Authorization": "Bearer fy_peer"}
    with httpx.Client(headers=auth) as c:
        keys = [o["key"] for o in c.get(base, params={"prefix": ""}).json()]
        assert "fleetyard-registry.json" in keys and any(k.endswith(".pack") for k in keys)
        assert not any(k.startswith(("tmp/", "leases/")) for k in keys)
        pack = next(k for k in keys if k.endswith(".pack"))
        full = c.get(f"{base}/{pack}").content
        part = c.get(f"{base}/{pack}", headers={"Range": "bytes=8-107"})
        assert part.status_code == 206 and part.content == full[8:108]
        assert part.headers["Content-Range"] == f"bytes 8-107/{len(full)}"
        assert c.get(f"{base}/{pack}", headers={"Range": "bytes=-10"}).content == full[-10:]
        assert c.get(f"{base}/{pack}", headers={"Range": f"bytes={len(full)}-"}).status_code == 416
        head = c.head(f"{base}/{pack}")
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(full)
        assert c.get(f"{base}/tmp/half.pack").status_code == 404
        assert c.get(f"{base}/../etc/passwd").status_code == 404
        assert c.put(f"{base}/packs/x.pack", content=b"x").status_code == 405
        metrics = c.get(f"http://127.0.0.1:{r.port}/metrics").text
        assert "fleetyard_agent_bytes_served_total" in metrics
    assert httpx.get(f"http://127.0.0.1:{r.port}/healthz").json() == {"status": "ok"}


def test_tokens_the_control_plane_refuses_get_nothing(relay: tuple[Relay, Store]) -> None:
    r, _ = relay
    base = f"http://127.0.0.1:{r.port}/api/v1/registry/objects"
    assert httpx.get(f"{base}/fleetyard-registry.json").status_code == 401
    no = httpx.get(f"{base}/fleetyard-registry.json", headers={"Authorization": "Bearer fy_wrong"})
    assert no.status_code == 401 and no.headers["WWW-Authenticate"] == "Bearer" and b"format" not in no.content
    assert httpx.get(f"http://127.0.0.1:{r.port}/metrics").status_code == 401
    down = httpx.get(f"{base}/fleetyard-registry.json", headers={"Authorization": "Bearer fy_unreachable"})
    assert down.status_code == 503
    with pytest.raises(RemoteAuthError):
        HttpBackend(f"http://127.0.0.1:{r.port}", "fy_wrong").get("fleetyard-registry.json")


def test_token_cache_asks_once_and_survives_a_server_outage() -> None:
    now = [0.0]
    answers = {"a": True, "b": False}
    state = {"down": False}

    def ask(token: str) -> bool:
        if state["down"]:
            raise TokenCheckUnavailable("down")
        return answers[token]

    cache = TokenCache(ask, ok_ttl=60, bad_ttl=5, monotonic=lambda: now[0])
    assert cache.allowed("a") and cache.allowed("a") and cache.asked == 1
    assert not cache.allowed("b") and cache.asked == 2
    now[0] = 100.0
    state["down"] = True
    assert cache.allowed("a")  # vouched for before: keeps working while the server is away
    with pytest.raises(TokenCheckUnavailable):
        cache.allowed("b")
    state["down"] = False
    answers["a"] = False  # revoked
    now[0] = 200.0
    assert not cache.allowed("a")
